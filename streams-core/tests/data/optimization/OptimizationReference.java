// Prints, for each topology of streams-core/tests/optimization.rs, Kafka Streams' describe and a
// canonical account of its sub-topologies and internal topics, without and with
// topology.optimization=all.
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.*;
import java.util.function.Consumer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.*;
import org.apache.kafka.streams.kstream.*;
import org.apache.kafka.streams.processor.internals.InternalTopologyBuilder;

public class OptimizationReference {
    static final Consumed<String, String> STRINGS = Consumed.with(Serdes.String(), Serdes.String());

    static Properties props(String opt) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "app");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "x:1");
        p.put(StreamsConfig.TOPOLOGY_OPTIMIZATION_CONFIG, opt);
        return p;
    }

    static final Map<String, Consumer<StreamsBuilder>> TOPOLOGIES = new LinkedHashMap<>();
    static {
        TOPOLOGIES.put("table_join_and_two_aggregations", b -> {
            KTable<String, String> users = b.table("users", STRINGS, Materialized.as("users-store"));
            KStream<String, String> clicks = b.stream("clicks", STRINGS);
            clicks.join(users, (page, user) -> page + "@" + user).to("enriched");
            KStream<String, String> byPage = clicks.selectKey((user, page) -> page);
            byPage.groupByKey().count(Materialized.as("page-views")).toStream()
                .to("page-view-counts", Produced.with(Serdes.String(), Serdes.Long()));
            byPage.groupByKey().reduce((older, newer) -> newer, Materialized.as("page-last-click"))
                .toStream().to("page-last-clicks");
        });
        TOPOLOGIES.put("filter_between", b -> {
            KStream<String, String> byPage = b.stream("clicks", STRINGS).selectKey((user, page) -> page);
            byPage.filter((page, user) -> !user.isEmpty()).groupByKey().count(Materialized.as("a"));
            byPage.groupByKey().reduce((older, newer) -> newer, Materialized.as("b"));
        });
        TOPOLOGIES.put("map_values_between", b -> {
            KStream<String, String> byPage = b.stream("clicks", STRINGS).selectKey((user, page) -> page);
            byPage.mapValues(user -> user.toUpperCase()).groupByKey().count(Materialized.as("a"));
            byPage.groupByKey().reduce((older, newer) -> newer, Materialized.as("b"));
            byPage.groupByKey().count(Materialized.as("c"));
        });
        TOPOLOGIES.put("merged_streams", b -> {
            KStream<String, String> web = b.stream("web", STRINGS).selectKey((user, page) -> page);
            KStream<String, String> merged = web.merge(b.stream("app", STRINGS));
            merged.groupByKey().count(Materialized.as("a"));
            merged.groupByKey().reduce((older, newer) -> newer, Materialized.as("b"));
        });
        TOPOLOGIES.put("windowed_and_plain", b -> {
            KStream<String, String> byPage = b.stream("clicks", STRINGS).selectKey((user, page) -> page);
            byPage.groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofMinutes(5)))
                .count(Materialized.as("w"));
            byPage.groupBy((page, user) -> user).count(Materialized.as("by-user"));
            byPage.groupByKey().count(Materialized.as("c"));
        });
    }

    static String canonical(Topology t, String opt) throws Exception {
        StringBuilder out = new StringBuilder();
        List<String> subs = new ArrayList<>();
        for (TopologyDescription.Subtopology sub : t.describe().subtopologies()) {
            TreeSet<String> sources = new TreeSet<>(), sinks = new TreeSet<>(), stores = new TreeSet<>();
            for (TopologyDescription.Node n : sub.nodes()) {
                if (n instanceof TopologyDescription.Source) sources.addAll(((TopologyDescription.Source) n).topicSet());
                if (n instanceof TopologyDescription.Sink) sinks.add(((TopologyDescription.Sink) n).topic());
                if (n instanceof TopologyDescription.Processor) stores.addAll(((TopologyDescription.Processor) n).stores());
            }
            subs.add("sources=" + sources + " sinks=" + sinks + " stores=" + stores);
        }
        Collections.sort(subs);
        for (String s : subs) out.append(s).append('\n');
        Field f = Topology.class.getDeclaredField("internalTopologyBuilder");
        f.setAccessible(true);
        InternalTopologyBuilder itb = (InternalTopologyBuilder) f.get(t);
        itb.rewriteTopology(new StreamsConfig(props(opt)));
        itb.buildTopology();
        TreeSet<String> internal = new TreeSet<>();
        for (InternalTopologyBuilder.TopicsInfo info : itb.subtopologyToTopicsInfo().values()) {
            for (var c : info.nonSourceChangelogTopics()) internal.add(c.name());
            internal.addAll(info.repartitionSourceTopics.keySet());
        }
        out.append("created=").append(internal).append('\n');
        return out.toString();
    }

    public static void main(String[] args) throws Exception {
        for (var e : TOPOLOGIES.entrySet()) {
            for (String opt : new String[]{"none", "all"}) {
                StreamsBuilder b = new StreamsBuilder();
                e.getValue().accept(b);
                Topology t = b.build(props(opt));
                System.out.println("### " + e.getKey() + " topology.optimization=" + opt);
                System.out.print(t.describe());
                System.out.print(canonical(t, opt));
                System.out.println();
            }
        }
    }
}
