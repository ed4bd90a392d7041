package dev.streams.oracle;

import static dev.streams.oracle.Topologies.STRING;
import static dev.streams.oracle.Topologies.first;
import static dev.streams.oracle.Topologies.show;
import static dev.streams.oracle.Topologies.strings;
import static dev.streams.oracle.Topologies.unwindow;
import static dev.streams.oracle.WindowTopologies.ms;

import java.util.Map;
import java.util.Properties;
import java.util.function.Function;

import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;

/**
 * Joins: stream–stream (inner, left, outer), stream–table (inner, left), table–table (inner,
 * left, outer), foreign-key (inner, left), stream–GlobalKTable (inner, left), and joins after a
 * key change (repartition).
 */
final class JoinTopologies {
    private JoinTopologies() {}

    static void register(final Map<String, Function<Properties, Topology>> into) {
        into.put("ss_inner_join", JoinTopologies::ssInnerJoin);
        into.put("ss_left_join", JoinTopologies::ssLeftJoin);
        into.put("ss_outer_join", JoinTopologies::ssOuterJoin);
        into.put("st_inner_join", JoinTopologies::stInnerJoin);
        into.put("st_left_join", JoinTopologies::stLeftJoin);
        into.put("tt_inner_join", JoinTopologies::ttInnerJoin);
        into.put("tt_left_join", JoinTopologies::ttLeftJoin);
        into.put("tt_outer_join", JoinTopologies::ttOuterJoin);
        into.put("fk_inner_join", JoinTopologies::fkInnerJoin);
        into.put("fk_left_join", JoinTopologies::fkLeftJoin);
        into.put("global_join", JoinTopologies::globalJoin);
        into.put("global_left_join", JoinTopologies::globalLeftJoin);
        into.put("repartition_table_join", JoinTopologies::repartitionTableJoin);
        into.put("repartition_stream_join", JoinTopologies::repartitionStreamJoin);
        into.put("repartition_stream_join_optimized", JoinTopologies::repartitionStreamJoin);
        into.put("windowed_table_join", JoinTopologies::windowedTableJoin);
        into.put("self_join_after_key_change", JoinTopologies::selfJoinAfterKeyChange);
        into.put("self_join_after_key_change_optimized", JoinTopologies::selfJoinAfterKeyChange);
    }

    static String pair(final String left, final String right) {
        return show(left) + "&" + show(right);
    }

    static StreamJoined<String, String, String> joined(final String name) {
        return StreamJoined.with(STRING, STRING, STRING).withStoreName(name);
    }

    static Topology ssInnerJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .join(b.stream("in2", strings()), JoinTopologies::pair,
                JoinWindows.ofTimeDifferenceAndGrace(ms(5), ms(3)), joined("ssi"))
            .to("out");
        return b.build(props);
    }

    static Topology ssLeftJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .leftJoin(b.stream("in2", strings()), JoinTopologies::pair,
                JoinWindows.ofTimeDifferenceAndGrace(ms(4), ms(2)).after(ms(2)), joined("ssl"))
            .to("out");
        return b.build(props);
    }

    static Topology ssOuterJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .outerJoin(b.stream("in2", strings()), JoinTopologies::pair,
                JoinWindows.ofTimeDifferenceAndGrace(ms(5), ms(1)), joined("sso"))
            .to("out");
        return b.build(props);
    }

    static KTable<String, String> table(final StreamsBuilder b, final String topic, final String store) {
        return b.table(topic, strings(), Materialized.as(store));
    }

    static Topology stInnerJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings()).join(table(b, "table", "st-table"), JoinTopologies::pair).to("out");
        return b.build(props);
    }

    static Topology stLeftJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings()).leftJoin(table(b, "table", "st-table"), JoinTopologies::pair).to("out");
        return b.build(props);
    }

    static Topology ttInnerJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        table(b, "table", "tt-left").join(table(b, "table2", "tt-right"), JoinTopologies::pair).toStream().to("out");
        return b.build(props);
    }

    static Topology ttLeftJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        table(b, "table", "tt-left").leftJoin(table(b, "table2", "tt-right"), JoinTopologies::pair).toStream().to("out");
        return b.build(props);
    }

    static Topology ttOuterJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        table(b, "table", "tt-left").outerJoin(table(b, "table2", "tt-right"), JoinTopologies::pair).toStream().to("out");
        return b.build(props);
    }

    static Topology fkInnerJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        table(b, "table", "fk-left")
            .join(table(b, "table2", "fk-right"), Topologies::first, JoinTopologies::pair)
            .toStream()
            .to("out");
        return b.build(props);
    }

    static Topology fkLeftJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        table(b, "table", "fk-left")
            .leftJoin(table(b, "table2", "fk-right"), Topologies::first, JoinTopologies::pair)
            .toStream()
            .to("out");
        return b.build(props);
    }

    /** The global table's key for a stream record: values starting with "d" map to null. */
    static String globalKey(final String key, final String value) {
        return value == null || value.startsWith("d") ? null : first(value);
    }

    static GlobalKTable<String, String> global(final StreamsBuilder b) {
        return b.globalTable("global", strings(), Materialized.as("global-store"));
    }

    static Topology globalJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings()).join(global(b), JoinTopologies::globalKey, JoinTopologies::pair).to("out");
        return b.build(props);
    }

    static Topology globalLeftJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings()).leftJoin(global(b), JoinTopologies::globalKey, JoinTopologies::pair).to("out");
        return b.build(props);
    }

    static Topology repartitionTableJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .selectKey((k, v) -> first(v))
            .join(table(b, "table", "rj-table"), JoinTopologies::pair)
            .to("out");
        return b.build(props);
    }

    static Topology repartitionStreamJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        final KStream<String, String> left = b.stream("in", strings()).selectKey((k, v) -> first(v));
        final KStream<String, String> right = b.stream("in2", strings()).selectKey((k, v) -> first(v));
        left.join(right, JoinTopologies::pair, JoinWindows.ofTimeDifferenceAndGrace(ms(5), ms(3)), joined("rsj"))
            .to("out");
        return b.build(props);
    }

    static KTable<Windowed<String>, Long> windowedCounts(final StreamsBuilder b, final String topic, final String store) {
        return b.stream(topic, strings())
            .groupByKey()
            .windowedBy(TimeWindows.ofSizeAndGrace(ms(10), ms(5)))
            .count(Materialized.as(store));
    }

    /** A join of two windowed tables (same windows): results per window. */
    static Topology windowedTableJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(windowedCounts(b, "in", "wtj-left")
            .join(windowedCounts(b, "in2", "wtj-right"), (l, r) -> l + "&" + r)
            .toStream())
            .to("out");
        return b.build(props);
    }

    /** A re-keyed stream left-joined with a filtered copy of itself, and counted. */
    static Topology selfJoinAfterKeyChange(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        final KStream<String, String> rekeyed = b.stream("in", strings()).selectKey((k, v) -> first(v));
        final KStream<String, String> longer = rekeyed.filter((k, v) -> v != null && v.length() > 1);
        rekeyed.leftJoin(longer, JoinTopologies::pair, JoinWindows.ofTimeDifferenceAndGrace(ms(5), ms(2)), joined("sj"))
            .to("out");
        rekeyed.groupByKey().count(Materialized.as("sj-counts")).toStream().to("out2", Topologies.longs());
        return b.build(props);
    }
}
