//! The soak's figures: the records in the input topic and each process's RSS over its life.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::PARTITIONS;
use crate::support::KafkaCluster;
use crate::support::soak::Sample;
/// Records in the input topic: the sum of its high watermarks (nothing is deleted).
pub(crate) fn input_records(broker: &KafkaCluster) -> u64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = broker.client().create().expect("consumer");
    (0..PARTITIONS)
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks("transactions", p, Duration::from_secs(10))
                .expect("watermarks");
            high as u64
        })
        .sum()
}

/// Each process's RSS over its life: first, median and last sample, and its peak.
pub(crate) fn print_processes(samples: &[Sample]) {
    // Keyed by instance and start (ms), for the order of the lines.
    let mut lives: BTreeMap<(usize, u64), (u32, Vec<u64>, f64)> = BTreeMap::new();
    let mut index: BTreeMap<u32, (usize, u64)> = BTreeMap::new();
    for s in samples {
        for (i, rss) in s.rss.iter().enumerate() {
            if let Some((pid, kib)) = rss {
                let key = *index.entry(*pid).or_insert((i, (s.secs * 1000.0) as u64));
                let life = lives.entry(key).or_insert((*pid, Vec::new(), s.secs));
                life.1.push(*kib);
                life.2 = s.secs;
            }
        }
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    for ((i, from_ms), (pid, rss, to)) in lives {
        let from = from_ms as f64 / 1000.0;
        let first = rss.first().copied().unwrap_or(0);
        let last = rss.last().copied().unwrap_or(0);
        let peak = rss.iter().max().copied().unwrap_or(0);
        let median = crate::support::soak::median(&mut rss.clone());
        println!(
            "i{i} pid {pid} ({from:.0}-{to:.0} s): RSS {:.0} -> median {:.0} -> {:.0} MiB, peak {:.0} MiB",
            mib(first),
            mib(median),
            mib(last),
            mib(peak)
        );
    }
}
