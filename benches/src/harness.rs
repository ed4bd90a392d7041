//! Shared machinery: feeding inputs, measuring progress, timing, printing JSON.
//!
//! librdkafka's mock cluster keeps only the last 5 MiB of each partition (older record batches
//! are dropped), so 1M 100-byte records cannot be loaded up front. Each run gets fresh topics;
//! small inputs (tables) are loaded before the clock starts, and streamed inputs get a first
//! window before the clock starts and a feeder thread that keeps them at most `window` records
//! ahead of the workload's progress. Progress is the output record count for the raw
//! baseline, and the application's committed input offsets for framework workloads (so a
//! workload is done when everything is processed, outputs delivered and offsets committed).
//! Every workload, the baseline included, runs under the same feeder.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams_core::StreamsConfig;
use streams_core::embedded::EmbeddedBroker;

use crate::Args;
use crate::workloads::{Feed, Topics};

/// Any error, sendable between threads.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sends `record` through the runtime's send path: it waits while the producer's queue is
/// full, and a record the producer refuses for good is an error (the run ends with it).
pub(crate) fn send<K, P>(
    producer: &BaseProducer,
    record: BaseRecord<'_, K, P>,
) -> Result<(), BoxError>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    let topic = record.topic;
    streams_core::runtime::send_record(producer, record)
        .map_err(|e| format!("producing to `{topic}`: {e}").into())
}

/// How progress is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Records in the output topic (the raw baseline, one output per input).
    Output,
    /// Records the application has processed from its streamed inputs (its
    /// `streams_task_process_total` metric, over its tasks); the run ends when it has processed them all and
    /// closed (committing).
    Processed,
}

/// One workload's run: its topics and group.
pub(crate) struct Run<'a> {
    /// The benchmark it belongs to.
    pub(crate) bench: &'a Bench,
    /// A fresh application id / group id for this run.
    pub(crate) app_id: String,
    /// This run's output topic.
    pub(crate) output: String,
    /// This run's topics.
    pub(crate) topics: Topics,
    /// Metrics of the run's application (its `streams_task_process_total` paces the feeder).
    pub(crate) registry: prometheus::Registry,
}

impl<'a> Run<'a> {
    /// A run of workload `name`: its own application id, topics and metrics.
    pub(crate) fn new(bench: &'a Bench, name: &str) -> Self {
        let app_id = format!("bench-{}-{name}", bench.run_id);
        let topics = Topics::new(&app_id);
        Run {
            bench,
            output: topics.output(),
            topics,
            app_id,
            registry: prometheus::Registry::new(),
        }
    }

    /// The topic of feed `name`.
    pub(crate) fn topic(&self, name: &str) -> String {
        self.topics.input(name)
    }
}

/// The benchmark's broker and settings.
pub(crate) struct Bench {
    /// The benchmark's settings.
    pub(crate) args: Args,
    /// The base config of every app (`bootstrap.servers`, the embedded broker's admin).
    pub(crate) config: StreamsConfig,
    /// `bootstrap.servers`.
    pub(crate) bootstrap: String,
    /// The embedded broker, when the benchmark runs on it: kept alive for the run.
    _broker: Option<Arc<EmbeddedBroker>>,
    broker_kind: &'static str,
    run_id: u128,
}

/// A timed workload.
pub(crate) struct Measurement {
    workload: String,
    records: usize,
    /// Wall-clock seconds of the run.
    pub(crate) seconds: f64,
    bench_info: String,
}

impl Measurement {
    /// Prints the JSON line, with the ratio to a baseline that took `baseline_seconds`.
    pub(crate) fn print(&self, baseline_seconds: f64) {
        let rate = self.records as f64 / self.seconds;
        let ratio = baseline_seconds / self.seconds;
        println!(
            "{{\"workload\":\"{}\",\"records\":{},\"seconds\":{:.3},\"records_per_s\":{:.0},\"ratio_vs_passthrough\":{:.3},{}}}",
            self.workload, self.records, self.seconds, rate, ratio, self.bench_info
        );
    }
}

/// Produces feed records `from..to`: keys `key-<i % keys>`, fixed-size values, timestamps
/// `base + i` ms (so that keys recur every `keys` ms of event time).
pub(crate) struct FeedProducer {
    /// The producer (flush it to wait for the records sent).
    pub(crate) producer: BaseProducer,
    keys: usize,
    value: Vec<u8>,
    base_ts: i64,
}

impl FeedProducer {
    /// A producer of feed records on `client` (Kafka's default partitioner, murmur2, so that
    /// Kafka Streams and we see the same keys in the same partitions).
    pub(crate) fn new(
        client: &mut ClientConfig,
        keys: usize,
        value_bytes: usize,
    ) -> Result<Self, BoxError> {
        let producer: BaseProducer = client.set("partitioner", "murmur2_random").create()?;
        Ok(FeedProducer {
            producer,
            keys,
            value: vec![b'v'; value_bytes],
            base_ts: 1_700_000_000_000,
        })
    }

    /// Produces records `range` to `topic` (call `producer.flush` to wait for them).
    pub(crate) fn send(&self, topic: &str, range: std::ops::Range<usize>) -> Result<(), BoxError> {
        for i in range {
            let key = format!("key-{}", i % self.keys);
            let record = BaseRecord::<str, [u8]>::to(topic)
                .key(&key)
                .payload(&self.value)
                .timestamp(self.base_ts + i as i64);
            send(&self.producer, record)?;
        }
        self.producer.poll(Duration::ZERO);
        Ok(())
    }
}

/// Measures progress through a separate client.
struct Meter {
    client: BaseConsumer,
    partitions: i32,
}

impl Meter {
    /// Records appended to `topic` (sum of high watermarks; topics start empty).
    fn appended(&self, topic: &str) -> Result<i64, BoxError> {
        let mut total = 0;
        for partition in 0..self.partitions {
            let (_, high) =
                self.client
                    .fetch_watermarks(topic, partition, Duration::from_secs(10))?;
            total += high;
        }
        Ok(total)
    }
}

impl Bench {
    /// A benchmark on `config`'s cluster, called `broker_kind` in the output.
    pub(crate) fn new(
        args: &Args,
        config: StreamsConfig,
        broker: Option<Arc<EmbeddedBroker>>,
        broker_kind: &'static str,
    ) -> Result<Self, BoxError> {
        let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
        let bootstrap = config.bootstrap_servers().unwrap_or_default().to_string();
        Ok(Bench {
            args: args.clone(),
            config,
            bootstrap,
            _broker: broker,
            broker_kind,
            run_id,
        })
    }

    /// Creates `topics` with `partitions` partitions and the topic configs `configs`, through
    /// the library's admin (on the embedded broker, which ignores topic configs, too).
    pub(crate) fn create_topics(
        &self,
        topics: &[String],
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<(), BoxError> {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        Ok(streams_core::runtime::create_topics(
            &self.config,
            &names,
            partitions,
            configs,
        )?)
    }

    /// `embedded` or `external`.
    pub(crate) fn broker_kind(&self) -> &'static str {
        self.broker_kind
    }

    /// A client config of the benchmark's cluster.
    pub(crate) fn client(&self) -> ClientConfig {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &self.bootstrap);
        client
    }

    fn producer(&self) -> Result<FeedProducer, BoxError> {
        FeedProducer::new(
            self.client().set("linger.ms", "5"),
            self.args.keys,
            self.args.value_bytes,
        )
    }

    /// Runs `workload` on fresh topics and group with `feeds` as inputs, timing it from just
    /// before the workload starts until every streamed input is processed.
    pub(crate) fn measure<F>(
        &self,
        name: &str,
        feeds: &[Feed],
        progress: Progress,
        timeout: Duration,
        workload: F,
    ) -> Result<Measurement, BoxError>
    where
        F: FnOnce(&Run<'_>, &dyn Fn() -> Result<bool, BoxError>) -> Result<(), BoxError>,
    {
        let run = Run::new(self, name);
        let partitions = self.args.partitions;
        let mut topics: Vec<String> = feeds.iter().map(|f| run.topic(f.name)).collect();
        topics.push(run.output.clone());
        self.create_topics(&topics, partitions, &[])?;

        let window = if self.args.window == 0 {
            usize::MAX
        } else {
            self.args.window
        };
        let streamed: Vec<(String, usize)> = feeds
            .iter()
            .filter(|f| !f.preload)
            .map(|f| (run.topic(f.name), f.records))
            .collect();
        let total: usize = streamed.iter().map(|(_, n)| n).sum();
        let producer = self.producer()?;
        for feed in feeds.iter().filter(|f| f.preload) {
            producer.send(&run.topic(feed.name), 0..feed.records)?;
        }
        // The first window of each streamed input, before the clock starts.
        let mut fed: Vec<usize> = streamed
            .iter()
            .map(|(_, n)| (*n).min(window / streamed.len().max(1)))
            .collect();
        for ((topic, _), upto) in streamed.iter().zip(&fed) {
            producer.send(topic, 0..*upto)?;
        }
        producer.producer.flush(Duration::from_secs(60))?;

        let deadline = Instant::now() + timeout;
        let meter = Meter {
            client: self.client().create()?,
            partitions,
        };
        let output = run.output.clone();
        let preloaded_records: usize = feeds.iter().filter(|f| f.preload).map(|f| f.records).sum();
        let registry = run.registry.clone();
        let measure_progress = move |meter: &Meter| -> Result<usize, BoxError> {
            match progress {
                Progress::Output => Ok(usize::try_from(meter.appended(&output)?).unwrap_or(0)),
                Progress::Processed => Ok(registry
                    .gather()
                    .iter()
                    .filter(|f| f.name() == "streams_task_process_total")
                    .flat_map(|f| f.get_metric())
                    .map(|m| m.get_counter().get_value() as usize)
                    .sum::<usize>()
                    .saturating_sub(preloaded_records)),
            }
        };
        let feed_progress = measure_progress.clone();
        let done = || -> Result<bool, BoxError> {
            if Instant::now() > deadline {
                return Err(format!("{name} did not finish within {timeout:?}").into());
            }
            Ok(measure_progress(&meter)? >= total)
        };

        let started = Instant::now();
        let feed_meter = Meter {
            client: self.client().create()?,
            partitions,
        };
        let feeding = std::thread::spawn(move || -> Result<(), BoxError> {
            while fed.iter().zip(&streamed).any(|(f, (_, n))| f < n) {
                if Instant::now() > deadline {
                    return Err("feeder timed out".into());
                }
                let processed = feed_progress(&feed_meter)?;
                let allowed_total = processed.saturating_add(window);
                let fed_total: usize = fed.iter().sum();
                if allowed_total <= fed_total {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                // Spread the allowance over the streamed inputs, in step.
                let step = (allowed_total - fed_total).div_ceil(streamed.len());
                for (f, (topic, n)) in fed.iter_mut().zip(&streamed) {
                    let upto = (*f + step).min(*n);
                    producer.send(topic, *f..upto)?;
                    *f = upto;
                }
            }
            producer.producer.flush(Duration::from_secs(60))?;
            Ok(())
        });
        let result = workload(&run, &done);
        let seconds = started.elapsed().as_secs_f64();
        let fed = feeding.join().map_err(|_| "feeder thread panicked")?;
        result?;
        fed?;
        let preloaded: usize = feeds.iter().filter(|f| f.preload).map(|f| f.records).sum();
        Ok(Measurement {
            workload: name.to_string(),
            records: total,
            seconds,
            bench_info: format!(
                "\"preloaded\":{preloaded},\"value_bytes\":{},\"keys\":{},\"partitions\":{partitions},\"window\":{},\"broker\":\"{}\"",
                self.args.value_bytes, self.args.keys, self.args.window, self.broker_kind
            ),
        })
    }
}

/// Polls `done` every few milliseconds until it says so.
pub(crate) fn wait(done: &dyn Fn() -> Result<bool, BoxError>) -> Result<(), BoxError> {
    while !done()? {
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
