package dev.streams.bench;

import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;

/**
 * One benchmark app process: runs the workload's topology once per {@code --pass} (a warm-up
 * pass, then the timed one, in the same JVM so that the timed pass runs JIT-compiled code), and
 * reports on stdout, one JSON object a line, exactly the events the Rust app
 * ({@code streams-bench app}) reports, so the harness treats both alike:
 *
 * <pre>
 * {"event":"running","pass":i,"unix_us":t}     the instance first reached RUNNING
 * {"event":"first","pass":i,"unix_us":t}       the first input record was processed
 * {"event":"processed","pass":i,"unix_us":t,"records":n}  every expected record was processed: closing
 * {"event":"closed","pass":i,"unix_us":t}      close() returned (it commits first)
 * {"event":"done","unix_us":t}                 all passes are over; waits for stdin to close
 * {"event":"error","message":"..."}
 * </pre>
 *
 * <p>Records processed are the stream threads' own count, the thread-level {@code process-total}
 * metric (summed over threads), sampled every millisecond until the first record and every 5 ms
 * after; our app samples its {@code records_processed_total} the same way. A pass expecting 0
 * records runs until stdin closes (the harness's idle-memory probe). The harness, not this
 * process, decides when the input is committed: it watches the group's committed offsets.
 */
public final class KafkaStreamsBench {
    private static final AtomicBoolean STDIN_CLOSED = new AtomicBoolean();

    private KafkaStreamsBench() {}

    /** A run of the topology: its application id, topic prefix and expected input records. */
    private record Pass(String appId, String prefix, long expected) {}

    public static void main(String[] argv) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel",
                System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
        String workload = null;
        String bootstrap = null;
        String stateDir = null;
        String guarantee = "at_least_once";
        int threads = 1;
        long commitMs = 30_000;
        long cacheBytes = 10L * 1024 * 1024;
        List<Pass> passes = new ArrayList<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            String value = argv[i + 1];
            switch (argv[i]) {
                case "--workload" -> workload = value;
                case "--bootstrap" -> bootstrap = value;
                case "--state-dir" -> stateDir = value;
                case "--guarantee" -> guarantee = value;
                case "--threads" -> threads = Integer.parseInt(value);
                case "--commit-interval-ms" -> commitMs = Long.parseLong(value);
                case "--cache-bytes" -> cacheBytes = Long.parseLong(value);
                case "--pass" -> {
                    String[] parts = value.split(",", -1);
                    if (parts.length != 3) {
                        fail("--pass wants <application id>,<topic prefix>,<records>: " + value);
                    }
                    passes.add(new Pass(parts[0], parts[1], Long.parseLong(parts[2])));
                }
                default -> fail("unknown argument " + argv[i]);
            }
        }
        if (workload == null || bootstrap == null || stateDir == null || passes.isEmpty()) {
            fail("usage: --workload W --bootstrap B --state-dir D --pass app,prefix,records"
                    + " [--threads N] [--guarantee G] [--commit-interval-ms C] [--cache-bytes S]");
        }
        Thread stdin = new Thread(KafkaStreamsBench::watchStdin, "stdin-watch");
        stdin.setDaemon(true);
        stdin.start();

        for (int i = 0; i < passes.size(); i++) {
            Pass pass = passes.get(i);
            Properties props = new Properties();
            props.put(StreamsConfig.APPLICATION_ID_CONFIG, pass.appId());
            props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
            props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
            props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
            props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
            props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, cacheBytes);
            if (!runPass(i, pass, Topologies.build(workload, pass.prefix()), props)) {
                break;
            }
        }
        event("{\"event\":\"done\",\"unix_us\":" + nowMicros() + "}");
        while (!STDIN_CLOSED.get()) {
            Thread.sleep(10);
        }
        System.exit(0);
    }

    /** Runs one pass; false when stdin closed during it (the harness gave up: stop). */
    private static boolean runPass(int index, Pass pass, org.apache.kafka.streams.Topology topology,
                                   Properties props) throws InterruptedException {
        KafkaStreams streams = new KafkaStreams(topology, props);
        AtomicBoolean running = new AtomicBoolean();
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING && running.compareAndSet(false, true)) {
                event("{\"event\":\"running\",\"pass\":" + index + ",\"unix_us\":" + nowMicros() + "}");
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            event("{\"event\":\"error\",\"message\":" + quote("stream thread failed: " + e) + "}");
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.start();
        ProcessedCounter processed = new ProcessedCounter(streams);
        boolean first = false;
        boolean completed = true;
        while (true) {
            KafkaStreams.State state = streams.state();
            if (state == KafkaStreams.State.ERROR || state == KafkaStreams.State.NOT_RUNNING) {
                fail("Kafka Streams stopped unexpectedly in state " + state);
            }
            if (STDIN_CLOSED.get()) {
                completed = pass.expected() == 0;
                break;
            }
            long n = processed.get();
            if (!first && n > 0) {
                first = true;
                event("{\"event\":\"first\",\"pass\":" + index + ",\"unix_us\":" + nowMicros() + "}");
            }
            if (pass.expected() > 0 && n >= pass.expected()) {
                event("{\"event\":\"processed\",\"pass\":" + index + ",\"unix_us\":" + nowMicros()
                        + ",\"records\":" + n + "}");
                break;
            }
            Thread.sleep(first ? 5 : 1);
        }
        streams.close(Duration.ofMinutes(5));
        event("{\"event\":\"closed\",\"pass\":" + index + ",\"unix_us\":" + nowMicros() + "}");
        return completed;
    }

    /** The stream threads' {@code process-total}, summed; re-reads the metric list every second. */
    private static final class ProcessedCounter {
        private final KafkaStreams streams;
        private final List<Metric> metrics = new ArrayList<>();
        private long listedAt = Long.MIN_VALUE;

        ProcessedCounter(KafkaStreams streams) {
            this.streams = streams;
        }

        long get() {
            long now = System.nanoTime();
            if (metrics.isEmpty() || now - listedAt > 1_000_000_000L) {
                metrics.clear();
                for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
                    MetricName name = e.getKey();
                    if (name.name().equals("process-total") && name.group().equals("stream-thread-metrics")) {
                        metrics.add(e.getValue());
                    }
                }
                listedAt = now;
            }
            double sum = 0;
            for (Metric m : metrics) {
                Object v = m.metricValue();
                if (v instanceof Number number) {
                    sum += number.doubleValue();
                }
            }
            return (long) sum;
        }
    }

    private static void watchStdin() {
        InputStream in = System.in;
        byte[] buf = new byte[256];
        try {
            while (in.read(buf) != -1) {
                // the harness writes nothing; it only closes
            }
        } catch (IOException e) {
            // a broken stdin means the harness is gone: same as closed
        }
        STDIN_CLOSED.set(true);
    }

    private static long nowMicros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }

    private static synchronized void event(String json) {
        System.out.println(json);
        System.out.flush();
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    private static void fail(String message) {
        event("{\"event\":\"error\",\"message\":" + quote(message) + "}");
        System.exit(2);
    }
}
