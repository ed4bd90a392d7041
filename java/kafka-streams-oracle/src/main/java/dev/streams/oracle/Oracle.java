package dev.streams.oracle;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Supplier;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.ValueAndTimestamp;
import org.apache.kafka.streams.state.VersionedKeyValueStore;
import org.apache.kafka.streams.state.VersionedRecord;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.test.TestRecord;

/**
 * Runs scenarios of the differential test through Kafka Streams' own {@link TopologyTestDriver}.
 *
 * <p>Protocol: one JSON object a line on stdin, one answer a line on stdout, in order, until
 * stdin closes. A request names a topology of {@link Topologies}, the driver's configuration, the
 * output topics to read and the stores to dump, and the steps:
 *
 * <pre>
 * {"id":7,"topology":"count_by_key","config":{"statestore.cache.max.bytes":"0"},
 *  "outputs":["out"],"stores":["counts"],
 *  "steps":[{"topic":"in","key":"61","value":null,"ts":5},{"advance":10}]}
 * </pre>
 *
 * <p>Keys and values are hex bytes (or null) on both ways, so this program knows no types: each
 * topology's sources and sinks carry their serdes. The answer holds every record of each output
 * topic in order, and each store's entries rendered as text ({@code key -> value @timestamp};
 * windowed keys as {@code key@start/end}), sorted:
 *
 * <pre>
 * {"id":7,"outputs":{"out":[{"key":"61","value":"0000000000000001","ts":5}]},
 *  "stores":{"counts":["a -> 1 @5"]},"error":null}
 * </pre>
 *
 * <p>A step that throws ends the scenario: the answer then carries the exception as
 * {@code error} and what was output before it.
 */
public final class Oracle {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HexFormat HEX = HexFormat.of();

    private Oracle() {}

    public static void main(final String[] args) throws IOException {
        final Path stateRoot = Files.createTempDirectory("kafka-streams-oracle-");
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
             BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8))) {
            long run = 0;
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                final JsonNode request = JSON.readTree(line);
                final ObjectNode answer = run(request, stateRoot.resolve("run-" + run++));
                out.write(JSON.writeValueAsString(answer));
                out.newLine();
                out.flush();
            }
        } finally {
            deleteTree(stateRoot);
        }
    }

    private static ObjectNode run(final JsonNode request, final Path stateDir) {
        final ObjectNode answer = JSON.createObjectNode();
        answer.set("id", request.get("id"));
        final ObjectNode outputs = answer.putObject("outputs");
        final ObjectNode stores = answer.putObject("stores");
        answer.putNull("error");
        final String name = request.path("topology").asText();
        final Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "oracle");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "dummy:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        final Iterator<Map.Entry<String, JsonNode>> config = request.path("config").properties().iterator();
        while (config.hasNext()) {
            final Map.Entry<String, JsonNode> entry = config.next();
            props.put(entry.getKey(), entry.getValue().asText());
        }
        final Topology topology;
        try {
            topology = Topologies.build(name, props);
        } catch (final RuntimeException e) {
            answer.put("error", "unknown topology or failed build: " + describe(e));
            return answer;
        }
        // The wall clock starts at 0, as the Rust driver's does.
        try (TopologyTestDriver driver = new TopologyTestDriver(topology, props, Instant.ofEpochMilli(0))) {
            try {
                for (final JsonNode step : request.path("steps")) {
                    if (step.has("advance")) {
                        driver.advanceWallClockTime(Duration.ofMillis(step.get("advance").asLong()));
                    } else {
                        final TestInputTopic<byte[], byte[]> topic = driver.createInputTopic(
                            step.get("topic").asText(), new ByteArraySerializer(), new ByteArraySerializer());
                        topic.pipeInput(new TestRecord<>(
                            bytes(step.get("key")), bytes(step.get("value")), null, step.get("ts").asLong()));
                    }
                }
            } catch (final RuntimeException e) {
                answer.put("error", describe(e));
            }
            for (final JsonNode topic : request.path("outputs")) {
                outputs.set(topic.asText(), records(driver, topic.asText()));
            }
            for (final JsonNode store : request.path("stores")) {
                final ArrayNode entries = stores.putArray(store.asText());
                try {
                    dump(driver, store.asText()).forEach(entries::add);
                } catch (final RuntimeException e) {
                    entries.add("error: " + describe(e));
                }
            }
        } catch (final RuntimeException e) {
            // Closing the driver failed: report it unless a step already did.
            if (answer.get("error").isNull()) {
                answer.put("error", "close: " + describe(e));
            }
        } finally {
            deleteTree(stateDir);
        }
        return answer;
    }

    private static ArrayNode records(final TopologyTestDriver driver, final String topic) {
        final ArrayNode list = JSON.createArrayNode();
        final TestOutputTopic<byte[], byte[]> output =
            driver.createOutputTopic(topic, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        for (final TestRecord<byte[], byte[]> record : output.readRecordsToList()) {
            final ObjectNode node = list.addObject();
            node.put("key", hex(record.key()));
            node.put("value", hex(record.value()));
            node.put("ts", record.timestamp());
        }
        return list;
    }

    /**
     * A store's entries as sorted text lines (the Rust side renders its stores the same way):
     * {@code key -> value @timestamp} for timestamped stores, {@code key -> value} otherwise.
     * The driver hands out each kind of store only through its own getter (the others
     * return null or throw), so they are tried in turn.
     */
    private static List<String> dump(final TopologyTestDriver driver, final String name) {
        final List<String> lines = new ArrayList<>();
        if (!driver.getAllStateStores().containsKey(name)) {
            lines.add("error: no such store");
            return lines;
        }
        final List<Supplier<Boolean>> kinds = List.of(
            () -> {
                final VersionedKeyValueStore<String, Object> versioned = driver.getVersionedKeyValueStore(name);
                if (versioned == null) {
                    return false;
                }
                // No range queries on versioned stores: every key the generator uses, latest
                // and as of a few times (value and timestamp; validTo is left out, see the
                // Rust side's dump::versioned).
                for (final String key : KEYS) {
                    lines.add(version(key, "latest", versioned.get(key)));
                    for (final long asOf : AS_OF) {
                        lines.add(version(key, String.valueOf(asOf), versioned.get(key, asOf)));
                    }
                }
                return true;
            },
            () -> {
                final KeyValueStore<Object, ValueAndTimestamp<Object>> kv = driver.getTimestampedKeyValueStore(name);
                if (kv == null) {
                    return false;
                }
                try (KeyValueIterator<Object, ValueAndTimestamp<Object>> it = kv.all()) {
                    it.forEachRemaining(e -> lines.add(render(e.key) + " -> " + render(e.value.value()) + " @" + e.value.timestamp()));
                }
                return true;
            },
            () -> {
                final KeyValueStore<Object, Object> kv = driver.getKeyValueStore(name);
                if (kv == null) {
                    return false;
                }
                try (KeyValueIterator<Object, Object> it = kv.all()) {
                    it.forEachRemaining(e -> lines.add(render(e.key) + " -> " + render(e.value)));
                }
                return true;
            },
            () -> {
                final WindowStore<Object, ValueAndTimestamp<Object>> window = driver.getTimestampedWindowStore(name);
                if (window == null) {
                    return false;
                }
                try (KeyValueIterator<Windowed<Object>, ValueAndTimestamp<Object>> it = window.all()) {
                    it.forEachRemaining(e -> lines.add(render(e.key) + " -> " + render(e.value.value()) + " @" + e.value.timestamp()));
                }
                return true;
            },
            () -> {
                final WindowStore<Object, Object> window = driver.getWindowStore(name);
                if (window == null) {
                    return false;
                }
                try (KeyValueIterator<Windowed<Object>, Object> it = window.all()) {
                    it.forEachRemaining(e -> lines.add(render(e.key) + " -> " + render(e.value)));
                }
                return true;
            },
            () -> {
                final SessionStore<Object, Object> session = driver.getSessionStore(name);
                if (session == null) {
                    return false;
                }
                try (KeyValueIterator<Windowed<Object>, Object> it = session.fetch(null, null)) {
                    it.forEachRemaining(e -> lines.add(render(e.key) + " -> " + render(e.value)));
                }
                return true;
            });
        for (final Supplier<Boolean> kind : kinds) {
            try {
                if (kind.get()) {
                    lines.sort(Comparator.naturalOrder());
                    return lines;
                }
            } catch (final IllegalArgumentException wrongKind) {
                lines.clear();
            }
        }
        lines.add("error: store of unknown kind " + driver.getAllStateStores().get(name).getClass().getName());
        return lines;
    }

    /** The keys the Rust generator uses (`scenario.rs`, `KEYS`). */
    static final List<String> KEYS = List.of("a", "b", "c", "d");
    /** The times versioned stores are read as of (the Rust side's `dump::AS_OF`). */
    static final long[] AS_OF = {5, 15, 30, 60};

    private static String version(final String key, final String asOf, final VersionedRecord<Object> record) {
        final String found = record == null
            ? "none"
            : render(record.value()) + " @" + record.timestamp();
        return key + " as of " + asOf + " -> " + found;
    }

    /** Text of a key or value: strings as they are, numbers in decimal, windows as key@start/end. */
    static String render(final Object value) {
        if (value == null) {
            return "null";
        }
        if (value instanceof Windowed<?> windowed) {
            return render(windowed.key()) + "@" + windowed.window().start() + "/" + windowed.window().end();
        }
        if (value instanceof KeyValue<?, ?> kv) {
            return "(" + render(kv.key) + ", " + render(kv.value) + ")";
        }
        return value.toString();
    }

    private static byte[] bytes(final JsonNode hex) {
        return hex == null || hex.isNull() ? null : HEX.parseHex(hex.asText());
    }

    private static String hex(final byte[] bytes) {
        return bytes == null ? null : HEX.formatHex(bytes);
    }

    private static String describe(final Throwable e) {
        final StringBuilder text = new StringBuilder(e.toString());
        for (Throwable cause = e.getCause(); cause != null && cause != cause.getCause(); cause = cause.getCause()) {
            text.append(" <- ").append(cause);
        }
        if (System.getenv("ORACLE_STACK_TRACES") != null) {
            final StringWriter trace = new StringWriter();
            e.printStackTrace(new PrintWriter(trace));
            text.append('\n').append(trace);
        }
        return text.toString();
    }

    private static void deleteTree(final Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (final IOException e) {
            // A leftover temporary directory is harmless.
        }
    }
}
