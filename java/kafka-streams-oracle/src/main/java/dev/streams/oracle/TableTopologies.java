package dev.streams.oracle;

import static dev.streams.oracle.Topologies.LONG;
import static dev.streams.oracle.Topologies.first;
import static dev.streams.oracle.Topologies.longs;
import static dev.streams.oracle.Topologies.strings;

import java.util.Map;
import java.util.Properties;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.state.KeyValueStore;

/** KTables: source, filter, mapValues, groupBy with count / aggregate / reduce, toStream. */
final class TableTopologies {
    private TableTopologies() {}

    static void register(final Map<String, Function<Properties, Topology>> into) {
        into.put("table_source", TableTopologies::tableSource);
        into.put("table_filter", TableTopologies::tableFilter);
        into.put("table_filter_materialized", TableTopologies::tableFilterMaterialized);
        into.put("table_map_values", TableTopologies::tableMapValues);
        into.put("table_filter_group_by", TableTopologies::tableFilterGroupBy);
        into.put("table_filter_join", TableTopologies::tableFilterJoin);
        into.put("table_filter_grouped_and_streamed", TableTopologies::tableFilterGroupedAndStreamed);
        into.put("table_group_by_count", TableTopologies::tableGroupByCount);
        into.put("table_group_by_count_optimized", TableTopologies::tableGroupByCount);
        into.put("table_group_by_aggregate", TableTopologies::tableGroupByAggregate);
        into.put("table_group_by_reduce", TableTopologies::tableGroupByReduce);
    }

    static Topology tableSource(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings(), Materialized.as("table-store")).toStream().to("out");
        return b.build(props);
    }

    static Topology tableFilter(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings())
            .filter((k, v) -> v.length() != 2)
            .toStream()
            .to("out");
        return b.build(props);
    }

    static Topology tableFilterMaterialized(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings())
            .filter((k, v) -> v.length() != 2, Materialized.as("filtered"))
            .mapValues(v -> v.toUpperCase())
            .toStream()
            .to("out");
        return b.build(props);
    }

    static Topology tableMapValues(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings(), Materialized.as("tm-source"))
            .mapValues((k, v) -> k + "=" + v)
            .toStream()
            .to("out");
        return b.build(props);
    }

    /** A filter whose downstream asks for old values (Kafka's sendOldValues). */
    static Topology tableFilterGroupBy(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings())
            .filter((k, v) -> v.length() != 2)
            .groupBy((k, v) -> KeyValue.pair(first(v), v), Grouped.as("tfg"))
            .count(Materialized.as("tfg-counts"))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    /**
     * A filter read by a grouping (which asks it for old values) and written out as a stream:
     * Kafka's filter then skips a delete of a row that never passed, for both.
     */
    static Topology tableFilterGroupedAndStreamed(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        final KTable<String, String> filtered = b.table("table", strings()).filter((k, v) -> v.length() != 2);
        filtered.toStream().to("out");
        filtered.groupBy((k, v) -> KeyValue.pair(first(v), v), Grouped.as("tfgs"))
            .count(Materialized.as("tfgs-counts"))
            .toStream()
            .to("out2", longs());
        return b.build(props);
    }

    /** A filtered table joined (the join materializes the filter's result). */
    static Topology tableFilterJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings())
            .filter((k, v) -> v.length() != 2)
            .join(b.table("table2", strings(), Materialized.as("tfj-right")), JoinTopologies::pair)
            .toStream()
            .to("out");
        return b.build(props);
    }

    static Topology tableGroupByCount(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings())
            .groupBy((k, v) -> KeyValue.pair(first(v), v), Grouped.as("tg"))
            .count(Materialized.as("tg-counts"))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    static Topology tableGroupByAggregate(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings())
            .groupBy((k, v) -> KeyValue.pair(first(v), v), Grouped.as("tga"))
            .aggregate(
                () -> 0L,
                (k, v, agg) -> agg + v.length(),
                (k, v, agg) -> agg - v.length(),
                Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("tg-sums").withValueSerde(LONG))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    static Topology tableGroupByReduce(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.table("table", strings())
            .groupBy((k, v) -> KeyValue.pair(first(v), k), Grouped.as("tgr"))
            .reduce(
                (agg, v) -> agg + v,
                (agg, v) -> agg.replaceFirst(Pattern.quote(v), Matcher.quoteReplacement("")),
                Materialized.as("tg-reduced"))
            .toStream()
            .to("out");
        return b.build(props);
    }
}
