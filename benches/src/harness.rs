//! Shared machinery: feeding input, waiting for output, timing, printing JSON.
//!
//! librdkafka's mock cluster keeps only the last 5 MiB of each partition (older record batches
//! are dropped), so 1M 100-byte records cannot be loaded up front. Each run therefore gets a
//! fresh input topic with a first window of records loaded before the clock starts, and a
//! feeder thread that keeps the input at most `window` records ahead of the output while the
//! workload runs. Every workload, the raw baseline included, runs under the same feeder.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams_core::StreamsConfig;
use streams_core::runtime::{TopicSpec, create_topics};

use crate::Args;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One workload's run: its topics and group.
pub(crate) struct Run<'a> {
    pub(crate) bench: &'a Bench,
    /// A fresh application id / group id for this run.
    pub(crate) app_id: String,
    /// This run's input topic.
    pub(crate) input: String,
    /// This run's output topic.
    pub(crate) output: String,
}

/// The benchmark's broker and settings.
pub(crate) struct Bench {
    pub(crate) args: Args,
    pub(crate) config: StreamsConfig,
    pub(crate) bootstrap: String,
    broker_kind: &'static str,
    run_id: u128,
}

/// A timed workload.
pub(crate) struct Measurement {
    workload: String,
    records: usize,
    pub(crate) seconds: f64,
    bench_info: String,
}

impl Measurement {
    pub(crate) fn print(&self, baseline_seconds: f64) {
        let rate = self.records as f64 / self.seconds;
        let ratio = baseline_seconds / self.seconds;
        println!(
            "{{\"workload\":\"{}\",\"records\":{},\"seconds\":{:.3},\"records_per_s\":{:.0},\"ratio_vs_passthrough\":{:.3},{}}}",
            self.workload, self.records, self.seconds, rate, ratio, self.bench_info
        );
    }
}

/// Records appended to `topic` so far (sum of high watermarks; topics start empty).
fn appended(client: &BaseConsumer, topic: &str, partitions: i32) -> Result<i64, BoxError> {
    let mut total = 0;
    for partition in 0..partitions {
        let (_, high) = client.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        total += high;
    }
    Ok(total)
}

/// Produces input records `from..to` (keys `key-<i % keys>`, fixed-size values).
struct Feeder {
    producer: BaseProducer,
    topic: String,
    keys: usize,
    value: Vec<u8>,
}

impl Feeder {
    fn send(&self, range: std::ops::Range<usize>) {
        for i in range {
            let key = format!("key-{}", i % self.keys);
            let mut record = BaseRecord::<str, [u8]>::to(&self.topic)
                .key(&key)
                .payload(&self.value);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        self.producer.poll(Duration::from_millis(1));
                    }
                }
            }
        }
        self.producer.poll(Duration::ZERO);
    }
}

impl Bench {
    pub(crate) fn new(
        args: &Args,
        config: StreamsConfig,
        broker_kind: &'static str,
    ) -> Result<Self, BoxError> {
        let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
        let bootstrap = config.bootstrap_servers().unwrap_or_default().to_string();
        Ok(Bench {
            args: args.clone(),
            config,
            bootstrap,
            broker_kind,
            run_id,
        })
    }

    pub(crate) fn client(&self) -> ClientConfig {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &self.bootstrap);
        client
    }

    fn feeder(&self, topic: &str) -> Result<Feeder, BoxError> {
        let producer: BaseProducer = self
            .client()
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .create()?;
        Ok(Feeder {
            producer,
            topic: topic.to_string(),
            keys: self.args.keys,
            value: vec![b'v'; self.args.value_bytes],
        })
    }

    /// Runs `workload` on fresh topics and group, and times it until the output topic holds
    /// one record per input record.
    pub(crate) fn measure<F>(
        &self,
        name: &str,
        timeout: Duration,
        workload: F,
    ) -> Result<Measurement, BoxError>
    where
        F: FnOnce(&Run<'_>, &dyn Fn() -> Result<bool, BoxError>) -> Result<(), BoxError>,
    {
        let app_id = format!("bench-{}-{name}", self.run_id);
        let run = Run {
            bench: self,
            input: format!("{app_id}-input"),
            output: format!("{app_id}-output"),
            app_id,
        };
        let partitions = self.args.partitions;
        create_topics(
            &self.config,
            &[
                TopicSpec::new(&run.input, partitions),
                TopicSpec::new(&run.output, partitions),
            ],
        )?;
        let records = self.args.records;
        let window = if self.args.window == 0 {
            records
        } else {
            self.args.window.min(records)
        };
        let feeder = self.feeder(&run.input)?;
        feeder.send(0..window);
        feeder.producer.flush(Duration::from_secs(60))?;

        let watcher: BaseConsumer = self.client().create()?;
        let target = records as i64;
        let deadline = Instant::now() + timeout;
        let output = run.output.clone();
        let done = || -> Result<bool, BoxError> {
            if Instant::now() > deadline {
                return Err(format!("{name} did not finish within {timeout:?}").into());
            }
            Ok(appended(&watcher, &output, partitions)? >= target)
        };

        let started = Instant::now();
        let feed_client: BaseConsumer = self.client().create()?;
        let output = run.output.clone();
        let feeding = std::thread::spawn(move || -> Result<(), BoxError> {
            let mut fed = window;
            while fed < records {
                if Instant::now() > deadline {
                    return Err("feeder timed out".into());
                }
                let processed = appended(&feed_client, &output, partitions)? as usize;
                let upto = (processed + window).min(records);
                if upto > fed {
                    feeder.send(fed..upto);
                    fed = upto;
                } else {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            feeder.producer.flush(Duration::from_secs(60))?;
            Ok(())
        });
        let result = workload(&run, &done);
        let seconds = started.elapsed().as_secs_f64();
        let fed = feeding.join().map_err(|_| "feeder thread panicked")?;
        result?;
        fed?;
        Ok(Measurement {
            workload: name.to_string(),
            records,
            seconds,
            bench_info: format!(
                "\"value_bytes\":{},\"keys\":{},\"partitions\":{},\"window\":{},\"broker\":\"{}\"",
                self.args.value_bytes, self.args.keys, partitions, window, self.broker_kind
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
