package dev.streams.oracle;

import java.util.Map;
import java.util.TreeMap;
import java.util.Properties;
import java.util.function.Function;

import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Windowed;

/**
 * The named topologies of the differential test. Each has a twin of the same name in
 * {@code streams-core/tests/oracle/topologies/}, written with our DSL to do exactly the same:
 * same topics, same store names, same functions (null handled alike), same serdes on the wire.
 *
 * <p>Conventions shared with the Rust side: input topics {@code in}, {@code in2} (streams),
 * {@code table}, {@code table2} (tables) and {@code global} (a global table) carry String keys
 * and values; outputs are {@code out} and {@code out2}; Long values are Kafka's 8-byte
 * big-endian LongSerde; windowed keys are turned into the string {@code key@start/end} before
 * the sink.
 *
 * <p>A name ending in {@code _optimized} is the same topology as without the suffix; the Rust
 * registry gives it {@code topology.optimization=all}, which reaches {@code build(props)}.
 *
 * <p>A new topology is one {@code put} in a group's {@code register} (a method taking the
 * scenario's configuration, built with {@code builder.build(props)}) and one entry in the Rust
 * registry.
 */
final class Topologies {
    private static final Map<String, Function<Properties, Topology>> ALL = new TreeMap<>();

    static {
        StatelessTopologies.register(ALL);
        AggregationTopologies.register(ALL);
        TableTopologies.register(ALL);
        WindowTopologies.register(ALL);
        JoinTopologies.register(ALL);
        ProcessorTopologies.register(ALL);
        SuppressTopologies.register(ALL);
        VersionedTopologies.register(ALL);
        CogroupTopologies.register(ALL);
    }

    private Topologies() {}

    /**
     * The topology named {@code name}, built with the scenario's configuration (which is where
     * {@code topology.optimization} takes effect); throws for an unknown name.
     */
    static Topology build(final String name, final Properties props) {
        final Function<Properties, Topology> builder = ALL.get(name);
        if (builder == null) {
            throw new IllegalArgumentException("no topology named " + name);
        }
        return builder.apply(props);
    }

    static final Serde<String> STRING = Serdes.String();
    static final Serde<Long> LONG = Serdes.Long();

    static Consumed<String, String> strings() {
        return Consumed.with(STRING, STRING);
    }

    static Produced<String, Long> longs() {
        return Produced.with(STRING, LONG);
    }

    /** The first character of a value, or null for null or empty (a grouping or foreign key). */
    static String first(final String value) {
        return value == null || value.isEmpty() ? null : value.substring(0, 1);
    }

    /** "null" for null, else the string: how joiners and mappers show a possibly-null value. */
    static String show(final String value) {
        return value == null ? "null" : value;
    }

    /** Windowed keys as the string {@code key@start/end}, before the sink. */
    static <V> KStream<String, V> unwindow(final KStream<Windowed<String>, V> stream) {
        return stream.map((key, value) -> KeyValue.pair(Oracle.render(key), value));
    }
}
