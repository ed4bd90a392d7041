package dev.streams.oracle;

import static dev.streams.oracle.Topologies.first;
import static dev.streams.oracle.Topologies.show;
import static dev.streams.oracle.Topologies.strings;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Function;

import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Repartitioned;

/** Record-at-a-time operators: filter, map, flatMap, selectKey, split/branch, merge, peek, repartition. */
final class StatelessTopologies {
    private StatelessTopologies() {}

    static void register(final Map<String, Function<Properties, Topology>> into) {
        into.put("filter_map_values", StatelessTopologies::filterMapValues);
        into.put("map_select_key", StatelessTopologies::mapSelectKey);
        into.put("flat_map", StatelessTopologies::flatMap);
        into.put("branch_merge", StatelessTopologies::branchMerge);
        into.put("repartition_explicit", StatelessTopologies::repartitionExplicit);
    }

    static Topology filterMapValues(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .filter((k, v) -> v == null || v.length() != 2)
            .filterNot((k, v) -> "a".equals(k))
            .mapValues(v -> v == null ? "<null>" : v.toUpperCase())
            .peek((k, v) -> { })
            .to("out");
        return b.build(props);
    }

    static Topology mapSelectKey(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        final KStream<String, String> in = b.stream("in", strings());
        in.map((k, v) -> KeyValue.pair(v, k)).to("out");
        in.selectKey((k, v) -> first(v)).mapValues((k, v) -> show(k) + ":" + show(v)).to("out2");
        return b.build(props);
    }

    static Topology flatMap(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        final KStream<String, String> in = b.stream("in", strings());
        in.flatMap((k, v) -> {
            final List<KeyValue<String, String>> out = new ArrayList<>();
            if (v != null) {
                for (int i = 0; i < v.length(); i++) {
                    out.add(KeyValue.pair(show(k) + v.charAt(i), String.valueOf(i)));
                }
            }
            return out;
        }).to("out");
        in.flatMapValues(v -> v == null ? List.<String>of() : List.of(v, v + v)).to("out2");
        return b.build(props);
    }

    static Topology branchMerge(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        final Map<String, KStream<String, String>> branches = b.stream("in", strings())
            .split(Named.as("b-"))
            .branch((k, v) -> v != null && v.startsWith("a"), Branched.as("a"))
            .branch((k, v) -> v != null && v.length() == 1, Branched.as("one"))
            .defaultBranch(Branched.as("rest"));
        branches.get("b-a").mapValues(v -> "A:" + v)
            .merge(branches.get("b-one").mapValues(v -> "1:" + v))
            .merge(b.stream("in2", strings()))
            .to("out");
        branches.get("b-rest").to("out2");
        return b.build(props);
    }

    static Topology repartitionExplicit(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        b.stream("in", strings())
            .selectKey((k, v) -> first(v))
            .repartition(Repartitioned.as("rekeyed"))
            .mapValues((k, v) -> show(k) + ":" + show(v))
            .to("out");
        return b.build(props);
    }
}
