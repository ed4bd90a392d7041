package dev.streams.oracle;

import static dev.streams.oracle.Topologies.longs;
import static dev.streams.oracle.Topologies.strings;
import static dev.streams.oracle.WindowTopologies.ms;

import java.util.Map;
import java.util.Properties;
import java.util.function.Function;

import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.Suppressed.BufferConfig;

/** suppress(untilTimeLimit) on non-windowed tables, with each kind of buffer. */
final class SuppressTopologies {
    private SuppressTopologies() {}

    static void register(final Map<String, Function<Properties, Topology>> into) {
        into.put("suppress_time_limit", SuppressTopologies::timeLimit);
        into.put("suppress_max_records", SuppressTopologies::maxRecords);
        into.put("suppress_max_bytes", SuppressTopologies::maxBytes);
        into.put("suppress_shut_down_when_full", SuppressTopologies::shutDownWhenFull);
        into.put("suppress_table_source", SuppressTopologies::tableSource);
    }

    static KTable<String, Long> counts(final StreamsBuilder b, final String store) {
        return b.stream("in", strings()).groupByKey().count(Materialized.as(store));
    }

    static Topology timeLimit(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        counts(b, "tl-counts")
            .suppress(Suppressed.untilTimeLimit(ms(5), BufferConfig.unbounded()))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    static Topology maxRecords(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        counts(b, "mr-counts")
            .suppress(Suppressed.untilTimeLimit(ms(10), BufferConfig.maxRecords(2).emitEarlyWhenFull()))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    static Topology maxBytes(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .groupByKey()
            .reduce((agg, v) -> agg + "+" + v, Materialized.as("mb-reduced"))
            .suppress(Suppressed.untilTimeLimit(ms(10), BufferConfig.maxBytes(150).emitEarlyWhenFull()))
            .toStream()
            .to("out");
        return b.build(props);
    }

    static Topology shutDownWhenFull(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        counts(b, "sd-counts")
            .suppress(Suppressed.untilTimeLimit(ms(20), BufferConfig.maxRecords(3).shutDownWhenFull()))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    static Topology tableSource(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings(), Materialized.as("sts-source"))
            .suppress(Suppressed.untilTimeLimit(ms(3), BufferConfig.unbounded()))
            .toStream()
            .to("out");
        return b.build(props);
    }
}
