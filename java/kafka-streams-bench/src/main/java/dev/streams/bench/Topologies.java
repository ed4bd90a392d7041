package dev.streams.bench;

import java.time.Duration;

import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The benchmark's workloads in Kafka Streams, one for one with {@code benches/src/workloads.rs}:
 * the same topics ({@code <prefix>-<input>}, {@code <prefix>-output}), store names, windows and
 * joiners, and the same bytes on the wire. Keys are UTF-8 strings ({@code Serdes.String()}, as
 * our {@code Serdes::string()}), values are opaque bytes ({@code Serdes.ByteArray()}, as our
 * {@code Serdes::bytes()}), and counts and join results are 8-byte big-endian numbers: Kafka's
 * {@code LongSerde} writes a {@code long} big-endian, byte for byte what our {@code u64} serde
 * writes for the same non-negative number.
 */
final class Topologies {
    private static final Serde<String> STRING = Serdes.String();
    private static final Serde<byte[]> BYTES = Serdes.ByteArray();
    private static final Serde<Long> LONG = Serdes.Long();

    private Topologies() {}

    /** The topology of {@code workload} over the topics named after {@code prefix}. */
    static Topology build(String workload, String prefix) {
        StreamsBuilder builder = new StreamsBuilder();
        String output = prefix + "-output";
        switch (workload) {
            case "stream_process_with_sink":
                // ours: map_values(|mut v| { v.reverse(); v }) on the owned value
                bytes(builder, prefix + "-input")
                        .mapValues(Topologies::reverse)
                        .to(output, Produced.with(STRING, BYTES));
                break;
            case "stream_count":
            case "stream_count_2_threads":
            case "stream_count_eos":
                bytes(builder, prefix + "-input")
                        .groupByKey(Grouped.with(STRING, BYTES))
                        .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("bench-counts")
                                .withKeySerde(STRING)
                                .withValueSerde(LONG))
                        .toStream()
                        .to(output, Produced.with(STRING, LONG));
                break;
            case "stream_count_windowed":
                bytes(builder, prefix + "-input")
                        .groupByKey(Grouped.with(STRING, BYTES))
                        .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofSeconds(1))
                                .advanceBy(Duration.ofMillis(500)))
                        .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("bench-windowed")
                                .withKeySerde(STRING)
                                .withValueSerde(LONG))
                        .toStream()
                        .map((window, count) -> KeyValue.pair(window.key(), count == null ? 0L : count))
                        .to(output, Produced.with(STRING, LONG));
                break;
            case "stream_table_join": {
                KTable<String, byte[]> table = builder.table(prefix + "-table",
                        Consumed.with(STRING, BYTES),
                        Materialized.<String, byte[], KeyValueStore<Bytes, byte[]>>as("bench-table")
                                .withKeySerde(STRING)
                                .withValueSerde(BYTES));
                bytes(builder, prefix + "-input")
                        .join(table, (v, t) -> v.length + t.length, Joined.with(STRING, BYTES, BYTES))
                        .mapValues(n -> (long) n)
                        .to(output, Produced.with(STRING, LONG));
                break;
            }
            case "table_table_join": {
                KTable<String, byte[]> left = table(builder, prefix + "-left", "bench-left");
                KTable<String, byte[]> right = table(builder, prefix + "-right", "bench-right");
                left.join(right, (l, r) -> (long) (l.length + r.length))
                        .toStream()
                        .to(output, Produced.with(STRING, LONG));
                break;
            }
            case "stream_stream_join": {
                KStream<String, byte[]> left = bytes(builder, prefix + "-left");
                KStream<String, byte[]> right = bytes(builder, prefix + "-right");
                left.join(right,
                                (l, r) -> (long) (l.length + r.length),
                                JoinWindows.ofTimeDifferenceWithNoGrace(Duration.ofSeconds(10)),
                                StreamJoined.with(STRING, BYTES, BYTES))
                        .to(output, Produced.with(STRING, LONG));
                break;
            }
            default:
                throw new IllegalArgumentException("unknown workload `" + workload + "`");
        }
        return builder.build();
    }

    private static KStream<String, byte[]> bytes(StreamsBuilder builder, String topic) {
        return builder.stream(topic, Consumed.with(STRING, BYTES));
    }

    private static KTable<String, byte[]> table(StreamsBuilder builder, String topic, String store) {
        return builder.table(topic,
                Consumed.with(STRING, BYTES),
                Materialized.<String, byte[], KeyValueStore<Bytes, byte[]>>as(store)
                        .withKeySerde(STRING)
                        .withValueSerde(BYTES));
    }

    /** Reverses the value in place: the deserializer hands each record its own array. */
    private static byte[] reverse(byte[] value) {
        for (int i = 0, j = value.length - 1; i < j; i++, j--) {
            byte b = value[i];
            value[i] = value[j];
            value[j] = b;
        }
        return value;
    }
}
