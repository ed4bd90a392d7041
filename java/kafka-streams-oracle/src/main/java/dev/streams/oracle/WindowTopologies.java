package dev.streams.oracle;

import static dev.streams.oracle.Topologies.longs;
import static dev.streams.oracle.Topologies.show;
import static dev.streams.oracle.Topologies.strings;
import static dev.streams.oracle.Topologies.unwindow;

import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.function.Function;

import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.SessionStore;

/**
 * Windowed aggregations over tumbling, hopping, sliding and session windows (with and without
 * grace), and suppress(untilWindowCloses). Windows are milliseconds long, so generated
 * timestamps cross many of them.
 */
final class WindowTopologies {
    private WindowTopologies() {}

    static void register(final Map<String, Function<Properties, Topology>> into) {
        into.put("tumbling_count", WindowTopologies::tumblingCount);
        into.put("hopping_aggregate", WindowTopologies::hoppingAggregate);
        into.put("tumbling_reduce_no_grace", WindowTopologies::tumblingReduceNoGrace);
        into.put("sliding_count", WindowTopologies::slidingCount);
        into.put("sliding_aggregate", WindowTopologies::slidingAggregate);
        into.put("session_count", WindowTopologies::sessionCount);
        into.put("session_aggregate", WindowTopologies::sessionAggregate);
        into.put("suppress_tumbling", WindowTopologies::suppressTumbling);
        into.put("suppress_session", WindowTopologies::suppressSession);
        into.put("tumbling_count_emit_final", WindowTopologies::tumblingCountEmitFinal);
        into.put("sliding_count_emit_final", WindowTopologies::slidingCountEmitFinal);
        into.put("session_count_emit_final", WindowTopologies::sessionCountEmitFinal);
        into.put("session_count_emit_final_retained", WindowTopologies::sessionCountEmitFinalRetained);
        into.put("suppress_window_close_bounded", WindowTopologies::suppressWindowCloseBounded);
    }

    static Duration ms(final long millis) {
        return Duration.ofMillis(millis);
    }

    static KGroupedStream<String, String> grouped(final StreamsBuilder b) {
        return b.stream("in", strings()).groupByKey();
    }

    static Topology tumblingCount(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(ms(10), ms(5)))
            .count(Materialized.as("tumbling-counts"))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }

    static Topology hoppingAggregate(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(ms(10), ms(3)).advanceBy(ms(5)))
            .aggregate(() -> "", (k, v, agg) -> agg + show(v), Materialized.as("hopping-agg"))
            .toStream())
            .to("out");
        return b.build(props);
    }

    static Topology tumblingReduceNoGrace(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(TimeWindows.ofSizeWithNoGrace(ms(8)))
            .reduce((agg, v) -> agg + "+" + v, Materialized.as("tumbling-reduce"))
            .toStream())
            .to("out");
        return b.build(props);
    }

    static Topology slidingCount(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(ms(10), ms(5)))
            .count(Materialized.as("sliding-counts"))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }

    static Topology slidingAggregate(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(SlidingWindows.ofTimeDifferenceWithNoGrace(ms(6)))
            .aggregate(() -> "", (k, v, agg) -> agg + show(v), Materialized.as("sliding-agg"))
            .toStream())
            .to("out");
        return b.build(props);
    }

    static Topology sessionCount(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(SessionWindows.ofInactivityGapAndGrace(ms(5), ms(3)))
            .count(Materialized.as("session-counts"))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }

    static Topology sessionAggregate(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(ms(4)))
            .aggregate(
                () -> "",
                (k, v, agg) -> agg + show(v),
                (k, left, right) -> left + "|" + right,
                Materialized.as("session-agg"))
            .toStream())
            .to("out");
        return b.build(props);
    }

    static Topology suppressTumbling(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(ms(10), ms(5)))
            .count(Materialized.as("supp-counts"))
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }

    static Topology suppressSession(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(SessionWindows.ofInactivityGapAndGrace(ms(5), ms(2)))
            .count(Materialized.as("supp-sessions"))
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }

    static Topology tumblingCountEmitFinal(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(ms(10), ms(5)))
            .emitStrategy(EmitStrategy.onWindowClose())
            .count(Materialized.as("tumbling-final"))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }

    static Topology slidingCountEmitFinal(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(ms(10), ms(5)))
            .emitStrategy(EmitStrategy.onWindowClose())
            .count(Materialized.as("sliding-final"))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }

    static Topology sessionCountEmitFinal(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(SessionWindows.ofInactivityGapAndGrace(ms(5), ms(3)))
            .emitStrategy(EmitStrategy.onWindowClose())
            .count(Materialized.as("session-final"))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }

    static Topology sessionCountEmitFinalRetained(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(SessionWindows.ofInactivityGapAndGrace(ms(5), ms(3)))
            .emitStrategy(EmitStrategy.onWindowClose())
            .count(Materialized.<String, Long, SessionStore<Bytes, byte[]>>as("session-final-retained")
                .withRetention(ms(100)))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }

    static Topology suppressWindowCloseBounded(final Properties props) {
        final StreamsBuilder b = new StreamsBuilder();
        unwindow(grouped(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(ms(10), ms(5)))
            .count(Materialized.as("supp-bounded"))
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.maxRecords(3).shutDownWhenFull()))
            .toStream())
            .to("out", longs());
        return b.build(props);
    }
}
