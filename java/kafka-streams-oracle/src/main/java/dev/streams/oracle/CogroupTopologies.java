package dev.streams.oracle;

import static dev.streams.oracle.Topologies.show;
import static dev.streams.oracle.Topologies.strings;
import static dev.streams.oracle.Topologies.unwindow;
import static dev.streams.oracle.WindowTopologies.ms;

import java.util.Map;
import java.util.Properties;
import java.util.function.Function;

import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.CogroupedKStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.TimeWindows;

/** cogroup (KIP-150): two grouped streams into one aggregate, plain and windowed. */
final class CogroupTopologies {
    private CogroupTopologies() {}

    static void register(final Map<String, Function<Properties, Topology>> into) {
        into.put("cogroup_aggregate", CogroupTopologies::aggregate);
        into.put("cogroup_windowed", CogroupTopologies::windowed);
    }

    static CogroupedKStream<String, String> cogrouped(final StreamsBuilder b) {
        return b.stream("in", strings())
            .groupByKey()
            .<String>cogroup((k, v, agg) -> agg + "1" + show(v))
            .cogroup(b.stream("in2", strings()).groupByKey(), (k, v, agg) -> agg + "2" + show(v));
    }

    static Topology aggregate(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        cogrouped(b).aggregate(() -> "", Materialized.as("cog")).toStream().to("out");
        return b.build(props);
    }

    static Topology windowed(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(cogrouped(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(ms(10), ms(5)))
            .aggregate(() -> "", Materialized.as("cog-win"))
            .toStream())
            .to("out");
        return b.build(props);
    }
}
