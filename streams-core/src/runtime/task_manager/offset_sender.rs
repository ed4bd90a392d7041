//! [`OffsetSender`]: the helper thread that adds a stream thread's input offsets to its
//! transaction, so that the stream thread can stop waiting for the call.
//!
//! librdkafka's `send_offsets_to_transaction` can block past its timeout when the group
//! coordinator is down or has just moved (confluentinc/librdkafka#5456, #5511). One helper
//! serves every commit of a stream thread's life; a call that does not answer in time leaves
//! the helper to librdkafka (it ends once the call returns) and the thread gives its tasks up.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaResult;
use rdkafka::producer::Producer;

use crate::runtime::producer::StreamsProducer;
use crate::{Error, Result};

/// One call for the helper. The producer goes with the call, so that the helper holds it
/// only while librdkafka does.
struct Call {
    producer: Arc<StreamsProducer>,
    offsets: TopicPartitionList,
    group: ConsumerGroupMetadata,
    timeout: Duration,
    answer: SyncSender<KafkaResult<()>>,
}

/// A stream thread's helper for `send_offsets_to_transaction` (see the module's docs).
pub(super) struct OffsetSender {
    calls: Sender<Call>,
}

impl std::fmt::Debug for OffsetSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetSender").finish_non_exhaustive()
    }
}

impl OffsetSender {
    /// Starts the helper thread; it ends when the sender is dropped and its last call returned.
    pub(super) fn start() -> Result<Self> {
        let (calls, queue) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("txn-send-offsets".into())
            .spawn(move || serve(queue))
            .map_err(|e| Error::io("starting the transaction's offset sender", e))?;
        Ok(OffsetSender { calls })
    }

    /// Adds `offsets` to `producer`'s transaction (librdkafka's timeout `timeout`), waiting for
    /// the answer at most `timeout + grace`. `None`: no answer in time (or the helper is gone).
    pub(super) fn send(
        &self,
        producer: Arc<StreamsProducer>,
        offsets: &TopicPartitionList,
        group: ConsumerGroupMetadata,
        timeout: Duration,
        grace: Duration,
    ) -> Option<KafkaResult<()>> {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let call = Call {
            producer,
            offsets: offsets.clone(),
            group,
            timeout,
            answer,
        };
        self.calls.send(call).ok()?;
        answered.recv_timeout(timeout + grace).ok()
    }
}

fn serve(queue: Receiver<Call>) {
    for call in queue {
        let sent =
            call.producer
                .send_offsets_to_transaction(&call.offsets, &call.group, call.timeout);
        drop(call.producer);
        let _ = call.answer.send(sent);
    }
}
