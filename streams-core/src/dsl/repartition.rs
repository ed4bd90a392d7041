//! Repartitioning: writing records through an internal topic keyed by their (new) key, so that
//! every record of a key reaches the same task.

use std::marker::PhantomData;

use super::builder::SharedState;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;

/// `<name>-repartition-filter`: drops records with a null key before a repartition topic if
/// `drop`, else lets every record through.
pub(crate) struct DropNullKeys<K, V> {
    key_serde: SharedSerde<K>,
    drop: bool,
    _value: PhantomData<fn(V)>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor for DropNullKeys<K, V> {
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = V;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
        record: Record<K, V>,
    ) -> ProcessResult {
        if self.drop && self.key_serde.is_null(&record.key) {
            ctx.record_dropped(
                crate::runtime::DropReason::NullKey,
                "null key before a repartition topic",
            );
            return Ok(());
        }
        Ok(ctx.forward(record)?)
    }
}

/// Adds `<name>-repartition-filter` → `<name>-repartition-sink` → topic `<name>-repartition`
/// → `<name>-repartition-source` after `parent`, and returns the source's name. `None` after
/// recording a build error (a missing serde).
///
/// The filter drops records with a null key when `drop_null_keys` (`KStream::repartition`, as
/// Kafka Streams 4.4 does there) and lets every record through otherwise: before a join or a
/// grouping Kafka 4's filter is `(k, v) -> true`, and what reads the topic decides about null
/// keys (an aggregation drops them; a left or outer join joins them with nothing; every
/// stream-stream join counts them into its stream time).
pub(crate) fn add_repartition<K: Clone + 'static, V: Clone + 'static>(
    state: &SharedState,
    parent: &str,
    name: &str,
    key_serde: SharedSerde<K>,
    value_serde: Option<SharedSerde<V>>,
    drop_null_keys: bool,
) -> Option<String> {
    let mut st = state.borrow_mut();
    let topic = format!("{name}-repartition");
    let value_serde = st.require_serde(value_serde, &format!("repartition topic `{topic}`"))?;
    let filter = format!("{name}-repartition-filter");
    let sink = format!("{name}-repartition-sink");
    let source = format!("{name}-repartition-source");
    let null_check = key_serde.clone();
    st.add_processor(
        &filter,
        move || DropNullKeys::<K, V> {
            key_serde: null_check.clone(),
            drop: drop_null_keys,
            _value: PhantomData,
        },
        parent,
    );
    st.add_sink(
        &sink,
        &topic,
        key_serde.clone(),
        value_serde.clone(),
        &filter,
    );
    st.add_internal_topic(&topic);
    st.add_source(&source, &topic, key_serde, value_serde);
    Some(source)
}

/// [`add_repartition`] when `required` (a topic `merge.repartition.topics` may merge), else
/// `parent` unchanged.
pub(crate) fn repartition_if_required<K: Clone + 'static, V: Clone + 'static>(
    state: &SharedState,
    parent: &str,
    required: bool,
    name: &str,
    key_serde: SharedSerde<K>,
    value_serde: Option<SharedSerde<V>>,
) -> Option<String> {
    if required {
        let source = add_repartition(state, parent, name, key_serde, value_serde, false)?;
        // Kafka Streams' `OptimizableRepartitionNode`: a grouping's or join's repartition
        // topic may be merged with others of the same key change.
        state
            .borrow_mut()
            .note_mergeable_repartition(super::optimize::RepartitionHint {
                topic: format!("{name}-repartition"),
                filter: format!("{name}-repartition-filter"),
                sink: format!("{name}-repartition-sink"),
                source: source.clone(),
            });
        Some(source)
    } else {
        Some(parent.to_string())
    }
}
