//! The app's instances: each a worker (`streams_core::worker`) with its own state directory and
//! HTTP server, on the same consumer group; and the checks made of them over HTTP.

use std::path::Path;
use std::time::{Duration, Instant};

use streams_core::worker::{RunningWorker, Worker};
use streams_core::{KafkaStreams, State, StreamsConfig};

use crate::model::CardRisk;
use crate::rules::FraudConfig;
use crate::topology::{CARD_RISK_STORE, MERCHANT_ALERTS_STORE, topology};

type BoxError = Box<dyn std::error::Error>;

/// The running instances of the app.
pub(crate) struct Instances {
    workers: Vec<RunningWorker>,
}

impl Instances {
    /// Starts `count` instances of the app configured by `config`: the first serving HTTP on
    /// `http_addr`, the others on free loopback ports, each with a state directory of its own
    /// under `state_dir`.
    pub(crate) fn start(
        cfg: &FraudConfig,
        config: &StreamsConfig,
        http_addr: &str,
        count: u8,
        state_dir: &Path,
    ) -> Result<Self, BoxError> {
        let mut workers = Vec::new();
        for i in 0..count {
            let topology_cfg = cfg.clone();
            let worker = Worker::new("fraud", move |_| topology(&topology_cfg))
                .base_config(config.clone())
                .queryable_key_value::<String, CardRisk>(CARD_RISK_STORE)
                .queryable_window::<String, u64>(MERCHANT_ALERTS_STORE);
            let addr = if i == 0 { http_addr } else { "127.0.0.1:0" };
            let dir = state_dir.join(format!("instance-{i}"));
            let args = [
                "fraud".to_string(),
                "--http-addr".into(),
                addr.into(),
                "--state-dir".into(),
                dir.display().to_string(),
            ];
            workers.push(worker.start(args)?);
        }
        Ok(Instances { workers })
    }

    /// Every instance's `KafkaStreams`.
    pub(crate) fn streams(&self) -> impl Iterator<Item = &KafkaStreams> {
        self.workers.iter().map(RunningWorker::streams)
    }

    /// An error if an instance has failed.
    pub(crate) fn check_running(&self) -> Result<(), BoxError> {
        for streams in self.streams() {
            if streams.state() == State::Error {
                let why = streams
                    .error()
                    .map(|e| e.report().to_string())
                    .unwrap_or_default();
                return Err(format!("the app failed: {why}").into());
            }
        }
        Ok(())
    }

    fn base_urls(&self) -> Vec<String> {
        self.workers
            .iter()
            .filter_map(RunningWorker::http_addr)
            .map(|addr| format!("http://{addr}"))
            .collect()
    }

    /// Asks every instance, over HTTP, the risk of each of `cards`, until all instances give
    /// the same answer (value, or none) for every card; returns how many cards were asked.
    pub(crate) fn cross_check(
        &self,
        cards: &[String],
        timeout: Duration,
    ) -> Result<usize, BoxError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let urls = self.base_urls();
        let deadline = Instant::now() + timeout;
        'retry: loop {
            self.check_running()?;
            for card in cards {
                let mut answers = Vec::new();
                for url in &urls {
                    let response = client
                        .get(format!("{url}/stores/{CARD_RISK_STORE}/keys/{card}"))
                        .send()?;
                    let status = response.status().as_u16();
                    let body: serde_json::Value = response.json().unwrap_or_default();
                    if status != 200 && status != 404 {
                        // Rebalancing or restoring: ask again.
                        if Instant::now() > deadline {
                            return Err(
                                format!("{url} answers {status} for card {card}: {body}").into()
                            );
                        }
                        std::thread::sleep(Duration::from_millis(200));
                        continue 'retry;
                    }
                    answers.push((status, body["value"].clone()));
                }
                if answers.windows(2).any(|pair| pair[0] != pair[1]) {
                    if Instant::now() > deadline {
                        return Err(
                            format!("instances disagree on card {card}: {answers:?}").into()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(200));
                    continue 'retry;
                }
            }
            return Ok(cards.len());
        }
    }

    /// Prints where each instance serves, and what to ask it.
    pub(crate) fn print_endpoints(&self) {
        for url in self.base_urls() {
            println!(
                "HTTP: {url}  (/stores/{CARD_RISK_STORE}/keys/<card>, /stores/{MERCHANT_ALERTS_STORE}/keys/<merchant>/windows, /metrics, /health/ready)"
            );
        }
    }

    /// Blocks until SIGTERM or SIGINT (or until an instance stops by itself).
    pub(crate) fn wait_for_signal(&mut self) -> Result<(), BoxError> {
        if let Some(first) = self.workers.first_mut() {
            first.wait_for_signal()?;
        }
        Ok(())
    }

    /// Closes every instance, the last started first.
    pub(crate) fn close(self) -> Result<(), BoxError> {
        let mut first_error = None;
        for worker in self.workers.into_iter().rev() {
            if let Err(e) = worker.close() {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}
