package dev.streams.oracle;

import static dev.streams.oracle.Topologies.STRING;
import static dev.streams.oracle.Topologies.first;
import static dev.streams.oracle.Topologies.longs;
import static dev.streams.oracle.Topologies.strings;
import static dev.streams.oracle.WindowTopologies.ms;

import java.util.Map;
import java.util.Properties;
import java.util.function.Function;

import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * Versioned tables (KIP-889, KIP-914): a versioned source, as-of stream–table joins with and
 * without a grace period (KIP-923), a grouping and a table–table join of versioned tables.
 * History retention is 30 ms, so generated timestamps reach past it.
 */
final class VersionedTopologies {
    private VersionedTopologies() {}

    static void register(final Map<String, Function<Properties, Topology>> into) {
        into.put("versioned_table_source", VersionedTopologies::tableSource);
        into.put("versioned_stream_table_join", VersionedTopologies::streamTableJoin);
        into.put("versioned_stream_table_left_join_grace", VersionedTopologies::streamTableLeftJoinGrace);
        into.put("versioned_table_group_by", VersionedTopologies::tableGroupBy);
        into.put("versioned_table_join", VersionedTopologies::tableJoin);
    }

    static KTable<String, String> versioned(final StreamsBuilder b, final String topic, final String store) {
        final Materialized<String, String, KeyValueStore<Bytes, byte[]>> materialized =
            Materialized.as(Stores.persistentVersionedKeyValueStore(store, ms(30)));
        return b.table(topic, strings(), materialized);
    }

    static Topology tableSource(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        versioned(b, "table", "vt-source").toStream().to("out");
        return b.build(props);
    }

    static Topology streamTableJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings()).join(versioned(b, "table", "vj-table"), JoinTopologies::pair).to("out");
        return b.build(props);
    }

    static Topology streamTableLeftJoinGrace(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .leftJoin(versioned(b, "table", "vg-table"), JoinTopologies::pair,
                Joined.with(STRING, STRING, STRING).withGracePeriod(ms(5)))
            .to("out");
        return b.build(props);
    }

    static Topology tableGroupBy(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        versioned(b, "table", "vgb-source")
            .groupBy((k, v) -> KeyValue.pair(first(v), v), Grouped.as("vgb"))
            .count(Materialized.as("vgb-counts"))
            .toStream()
            .to("out", longs());
        return b.build(props);
    }

    static Topology tableJoin(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        versioned(b, "table", "vtj-left")
            .join(versioned(b, "table2", "vtj-right"), JoinTopologies::pair)
            .toStream()
            .to("out");
        return b.build(props);
    }
}
