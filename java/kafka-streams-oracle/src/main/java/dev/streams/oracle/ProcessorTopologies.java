package dev.streams.oracle;

import static dev.streams.oracle.Topologies.LONG;
import static dev.streams.oracle.Topologies.STRING;
import static dev.streams.oracle.Topologies.show;

import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.function.Function;

import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/** The Processor API: a store and punctuations on wall-clock time and on stream time. */
final class ProcessorTopologies {
    private ProcessorTopologies() {}

    static void register(final Map<String, Function<Properties, Topology>> into) {
        into.put("punctuate_wall_clock", props -> counter(PunctuationType.WALL_CLOCK_TIME, 10));
        into.put("punctuate_stream_time", props -> counter(PunctuationType.STREAM_TIME, 7));
    }

    /**
     * Counts records per key in store "counts" (null keys skipped) and forwards "+value" for
     * each; every {@code interval} ms of {@code type} forwards "key=count@time" for each key.
     */
    static Topology counter(final PunctuationType type, final long interval) {
        final Topology t = new Topology();
        t.addSource("src", STRING.deserializer(), STRING.deserializer(), "in");
        t.addProcessor("counter", () -> new Counter(type, interval), "src");
        t.addStateStore(
            Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("counts"), STRING, LONG),
            "counter");
        t.addSink("sink", "out", STRING.serializer(), STRING.serializer(), "counter");
        return t;
    }

    static final class Counter implements Processor<String, String, String, String> {
        private final PunctuationType type;
        private final long interval;
        private ProcessorContext<String, String> context;
        private KeyValueStore<String, Long> store;

        Counter(final PunctuationType type, final long interval) {
            this.type = type;
            this.interval = interval;
        }

        @Override
        public void init(final ProcessorContext<String, String> context) {
            this.context = context;
            this.store = context.getStateStore("counts");
            context.schedule(Duration.ofMillis(interval), type, this::punctuate);
        }

        private void punctuate(final long time) {
            try (KeyValueIterator<String, Long> it = store.all()) {
                while (it.hasNext()) {
                    final KeyValue<String, Long> e = it.next();
                    context.forward(new Record<>(e.key, e.key + "=" + e.value + "@" + time, time));
                }
            }
        }

        @Override
        public void process(final Record<String, String> record) {
            if (record.key() == null) {
                return;
            }
            final Long old = store.get(record.key());
            store.put(record.key(), old == null ? 1L : old + 1);
            context.forward(record.withValue("+" + show(record.value())));
        }
    }
}
