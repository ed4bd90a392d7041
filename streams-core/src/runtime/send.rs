//! The one way a record is handed to an rdkafka producer: the runtime's record collector, the
//! examples, the benchmark and the test support all send through [`send_record`].

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

/// How long to serve delivery reports before trying again when the local queue is full.
const QUEUE_FULL_POLL: Duration = Duration::from_millis(10);

/// Hands `record` to `producer`. While the producer's local queue is full it serves delivery
/// reports (which make room) and tries again; any other refusal — a record larger than
/// `message.max.bytes`, an unknown partition, a fatal or fenced producer — is returned, since
/// trying again cannot succeed.
///
/// ```no_run
/// use rdkafka::ClientConfig;
/// use rdkafka::producer::{BaseProducer, BaseRecord};
///
/// let producer: BaseProducer = ClientConfig::new()
///     .set("bootstrap.servers", "localhost:9092")
///     .create()?;
/// streams_core::runtime::send_record(&producer, BaseRecord::to("words").key("a").payload("b"))?;
/// # Ok::<(), rdkafka::error::KafkaError>(())
/// ```
pub fn send_record<K, P, C>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, K, P, C::DeliveryOpaque>,
) -> Result<(), KafkaError>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
    C: ProducerContext,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(QUEUE_FULL_POLL);
            }
            Err((error, _)) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::ClientConfig;

    use super::*;

    #[test]
    fn a_record_refused_for_good_is_an_error_not_a_retry() {
        // No broker is needed: librdkafka refuses an oversized record in `produce` itself.
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("message.max.bytes", "1000")
            .create()
            .expect("producer");
        let payload = vec![b'x'; 4_000];
        let result = send_record(&producer, BaseRecord::<(), _>::to("t").payload(&payload));
        assert!(
            matches!(
                result,
                Err(KafkaError::MessageProduction(
                    RDKafkaErrorCode::MessageSizeTooLarge
                ))
            ),
            "{result:?}"
        );
    }

    #[test]
    fn an_accepted_record_is_queued() {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .create()
            .expect("producer");
        let result = send_record(&producer, BaseRecord::<(), _>::to("t").payload("small"));
        assert!(result.is_ok(), "{result:?}");
    }
}
