//! Where keys live: the `application.server` of each instance, the tasks it runs, and the
//! instance that holds a given key of a store (Kafka Streams' `StreamsMetadata`,
//! `KeyQueryMetadata`, `HostInfo`).
//!
//! Instances learn about each other through the [registry](super::registry) topic, where each
//! one announces its `application.server` with its active and standby tasks every second. A key
//! belongs to the partition Kafka's default partitioner gives it (murmur2 of its serialized
//! bytes, as our producers and Kafka's clients compute it), and so to that task of the store's
//! sub-topology.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::{Error, TaskId};

/// An instance's `application.server`: where its interactive-query endpoint listens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostInfo {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl HostInfo {
    /// `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        HostInfo {
            host: host.into(),
            port,
        }
    }
}

impl fmt::Display for HostInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl FromStr for HostInfo {
    type Err = Error;

    /// Parses `host:port` (the host may be a bracketed IPv6 address).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| Error::Config {
            key: crate::config::APPLICATION_SERVER.into(),
            reason: format!("`{s}` {reason}"),
        };
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| invalid("is not host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("has no host"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| invalid("has no valid port"))?;
        Ok(HostInfo::new(host, port))
    }
}

/// What one instance of the application runs, as it last announced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamsMetadata {
    /// Its `application.server`.
    pub host: HostInfo,
    /// The tasks it runs actively.
    pub active_tasks: BTreeSet<TaskId>,
    /// The tasks it keeps standby copies of.
    pub standby_tasks: BTreeSet<TaskId>,
}

/// Where a key of a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyQueryMetadata {
    /// The instance running the key's task, if one announced it.
    pub active: Option<HostInfo>,
    /// Instances with a standby copy of the key's task (possibly behind the active one).
    pub standbys: BTreeSet<HostInfo>,
    /// The input partition (and task number) the key belongs to.
    pub partition: i32,
}

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`), as the default
/// partitioners of Kafka's clients and librdkafka's `murmur2` partitioners compute it.
pub(crate) fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    // Kafka hashes the length as a Java int.
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if let Some(&first) = rest.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner gives a record with key bytes `key` among
/// `partitions`.
pub(crate) fn default_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_own_test_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input.as_bytes()), expected, "murmur2({input:?})");
        }
    }

    #[test]
    fn host_info_parses_host_and_port() {
        assert_eq!(
            "worker-1:8080".parse::<HostInfo>().ok(),
            Some(HostInfo::new("worker-1", 8080))
        );
        assert_eq!(
            "[::1]:9000".parse::<HostInfo>().ok(),
            Some(HostInfo::new("::1", 9000))
        );
        assert!("worker-1".parse::<HostInfo>().is_err());
        assert!(":80".parse::<HostInfo>().is_err());
        assert!("h:99999".parse::<HostInfo>().is_err());
        assert_eq!(HostInfo::new("h", 1).to_string(), "h:1");
    }
}
