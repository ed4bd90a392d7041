package dev.streams.oracle;

import static dev.streams.oracle.Topologies.LONG;
import static dev.streams.oracle.Topologies.first;
import static dev.streams.oracle.Topologies.longs;
import static dev.streams.oracle.Topologies.show;
import static dev.streams.oracle.Topologies.strings;

import java.util.Map;
import java.util.Properties;
import java.util.function.Function;

import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.state.KeyValueStore;

/** Stream aggregations: groupByKey / groupBy / selectKey+groupByKey with count, reduce, aggregate. */
final class AggregationTopologies {
    private AggregationTopologies() {}

    static void register(final Map<String, Function<Properties, Topology>> into) {
        into.put("count_by_key", AggregationTopologies::countByKey);
        into.put("reduce_by_key", AggregationTopologies::reduceByKey);
        into.put("aggregate_by_key", AggregationTopologies::aggregateByKey);
        into.put("group_by_count", AggregationTopologies::groupByCount);
        into.put("group_by_aggregate", AggregationTopologies::groupByAggregate);
        into.put("select_key_count", AggregationTopologies::selectKeyCount);
        into.put("select_key_count_optimized", AggregationTopologies::selectKeyCount);
        into.put("group_by_twice", AggregationTopologies::groupByTwice);
        into.put("group_by_twice_optimized", AggregationTopologies::groupByTwice);
    }

    static Topology countByKey(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .groupByKey()
            .count(Materialized.as("counts"))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    static Topology reduceByKey(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .groupByKey()
            .reduce((agg, v) -> agg + "+" + v, Materialized.as("reduced"))
            .toStream()
            .to("out");
        return b.build(props);
    }

    static Topology aggregateByKey(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .groupByKey()
            .aggregate(
                () -> 0L,
                (k, v, agg) -> v == null ? agg : agg + v.length(),
                Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("sums").withValueSerde(LONG))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    static Topology groupByCount(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .groupBy((k, v) -> v, Grouped.as("by-value"))
            .count(Materialized.as("value-counts"))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    static Topology groupByAggregate(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .groupBy((k, v) -> first(v), Grouped.as("by-first"))
            .aggregate(() -> "", (k, v, agg) -> agg + show(v), Materialized.as("first-agg"))
            .toStream()
            .to("out");
        return b.build(props);
    }

    static Topology selectKeyCount(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .selectKey((k, v) -> first(v) == null ? k : first(v))
            .groupByKey(Grouped.as("rekeyed"))
            .count(Materialized.as("rekeyed-counts"))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    /** One key change feeding two aggregations: topology.optimization merges their repartition topics. */
    static Topology groupByTwice(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        final KStream<String, String> rekeyed = b.stream("in", strings()).selectKey((k, v) -> first(v));
        rekeyed.groupByKey(Grouped.as("gt-count")).count(Materialized.as("gt-counts")).toStream().to("out", longs());
        rekeyed.groupByKey(Grouped.as("gt-reduce"))
            .reduce((agg, v) -> agg + "+" + v, Materialized.as("gt-reduced"))
            .toStream()
            .to("out2");
        return b.build(props);
    }
}
