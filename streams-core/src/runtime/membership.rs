//! How a stream thread's consumer takes part in the group: the group protocol's settings,
//! static membership (KIP-345), and leaving the group at the end of the thread.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use tracing::{info, warn};

use crate::config::GROUP_INSTANCE_ID;

/// Sets a client property unless the user set it.
pub(crate) trait SetIfAbsent {
    /// Sets `key` to `value` unless it has a value.
    fn set_if_absent(&mut self, key: &str, value: &str) -> &mut Self;
}

impl SetIfAbsent for ClientConfig {
    fn set_if_absent(&mut self, key: &str, value: &str) -> &mut Self {
        if self.get(key).is_none() {
            self.set(key, value);
        }
        self
    }
}

/// Consumer settings of the group protocol the user chose (`group.protocol`, as librdkafka
/// and Kafka's consumer name it). Either way the same partition number of every
/// co-partitioned topic goes to one member, as tasks need:
/// - `classic` (the default): the client-side eager `range` assignor;
/// - `consumer` (KIP-848, Apache Kafka 4.0+): the broker assigns with its `range` assignor
///   (co-partitioning shown by `examples/tests/group_protocol.rs`), incrementally; the
///   classic protocol's client-side settings are not allowed there and are dropped.
pub(crate) fn choose_group_protocol(consumer: &mut ClientConfig) {
    let next_generation = consumer
        .get("group.protocol")
        .is_some_and(|p| p.eq_ignore_ascii_case("consumer"));
    if !next_generation {
        consumer.set_if_absent("partition.assignment.strategy", "range");
        return;
    }
    consumer.set_if_absent("group.remote.assignor", "range");
    for classic in [
        "partition.assignment.strategy",
        "session.timeout.ms",
        "heartbeat.interval.ms",
    ] {
        if let Some(value) = consumer.get(classic).map(str::to_owned) {
            warn!(
                "{classic}={value} is ignored under group.protocol=consumer: the broker sets it (group.consumer.* broker configs)"
            );
            consumer.remove(classic);
        }
    }
}

/// Static membership (KIP-345), as Kafka Streams has it: with `group.instance.id` set, each
/// thread's consumer joins as `<group.instance.id>-<thread number>` (1, 2, …). The broker keeps
/// a static member's partitions through a restart shorter than `session.timeout.ms`, without a
/// rebalance, and the `range` assignor orders static members by these ids, so a restarted
/// instance gets back the tasks whose state it kept instead of its neighbour's. Returns whether
/// the consumer is a static member. (`KafkaStreams::new` refuses an id Kafka would not accept,
/// an empty one among them: see `StreamsConfig::check_group_instance_id`.)
pub(crate) fn static_membership(consumer: &mut ClientConfig, index: usize) -> bool {
    let Some(id) = consumer.get(GROUP_INSTANCE_ID).map(str::to_owned) else {
        return false;
    };
    consumer.set(GROUP_INSTANCE_ID, format!("{id}-{}", index + 1));
    true
}

/// How long [`leave_group`] serves the consumer at most.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls in a row that brought nothing, after which [`leave_group`] deems the consumer quiet.
const QUIET_POLLS: u32 = 4;

/// Unsubscribes and serves the consumer until its assignment is gone and no rebalance event
/// is pending, before it is dropped. Dropping a consumer with a rebalance still queued can
/// hang forever in librdkafka (`rd_kafka_assign` during close, confluentinc/librdkafka#4884);
/// handling the events while the group is still alive avoids it. Records polled here are
/// dropped unprocessed: their offsets were not committed.
///
/// A static member does not leave: unsubscribing would send the LeaveGroup that static
/// membership exists to avoid (librdkafka sends none only when the consumer is closed, as on
/// drop). It stops fetching its partitions and serves pending events, then is closed on drop
/// still holding its assignment, which the broker keeps for it until `session.timeout.ms`.
pub(crate) fn leave_group<C: ConsumerContext>(consumer: &BaseConsumer<C>, static_member: bool) {
    let started = Instant::now();
    let what = if static_member {
        // Best effort: records fetched anyway are dropped unprocessed below.
        match consumer.assignment() {
            Ok(assigned) => {
                if let Err(e) = consumer.pause(&assigned) {
                    warn!("pausing the partitions before closing: {e}");
                }
            }
            Err(e) => warn!("reading the assignment before closing: {e}"),
        }
        "pausing its partitions (a static member keeps them)"
    } else {
        consumer.unsubscribe();
        "unsubscribing"
    };
    let (mut quiet, mut polled) = (0, 0u64);
    while started.elapsed() < LEAVE_TIMEOUT {
        match consumer.poll(Duration::from_millis(50)) {
            None => quiet += 1,
            Some(_) => {
                quiet = 0;
                polled += 1;
            }
        }
        let assigned = consumer.assignment().map_or(0, |a| a.count());
        if (static_member || assigned == 0) && quiet >= QUIET_POLLS {
            info!(
                "the consumer is quiet {} ms after {what}, {polled} messages dropped",
                started.elapsed().as_millis()
            );
            return;
        }
    }
    warn!(
        "the consumer still had partitions or events {} s after {what} ({polled} messages dropped): closing it anyway",
        LEAVE_TIMEOUT.as_secs()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_joins_as_a_static_member_of_its_own() {
        let mut first = ClientConfig::new();
        first.set(GROUP_INSTANCE_ID, "worker-a");
        let mut second = first.clone();
        assert!(static_membership(&mut first, 0));
        assert!(static_membership(&mut second, 1));
        assert_eq!(first.get(GROUP_INSTANCE_ID), Some("worker-a-1"));
        assert_eq!(second.get(GROUP_INSTANCE_ID), Some("worker-a-2"));
    }

    #[test]
    fn without_an_instance_id_a_thread_is_a_dynamic_member() {
        let mut consumer = ClientConfig::new();
        assert!(!static_membership(&mut consumer, 0));
        assert_eq!(consumer.get(GROUP_INSTANCE_ID), None);
    }

    #[test]
    fn the_classic_protocol_assigns_with_range() {
        let mut consumer = ClientConfig::new();
        choose_group_protocol(&mut consumer);
        assert_eq!(consumer.get("partition.assignment.strategy"), Some("range"));
        assert_eq!(consumer.get("group.remote.assignor"), None);
    }

    #[test]
    fn the_consumer_protocol_drops_the_classic_settings() {
        let mut consumer = ClientConfig::new();
        consumer
            .set("group.protocol", "CONSUMER")
            .set("session.timeout.ms", "30000")
            .set("partition.assignment.strategy", "range");
        choose_group_protocol(&mut consumer);
        assert_eq!(consumer.get("group.remote.assignor"), Some("range"));
        assert_eq!(consumer.get("session.timeout.ms"), None);
        assert_eq!(consumer.get("partition.assignment.strategy"), None);
    }
}
