//! `KTable::group_by`'s re-keying: each change becomes a subtraction under the old grouped key
//! and an addition under the new one (one record when both keys are equal). Out-of-order
//! updates of a versioned table are not aggregated (KIP-914): they stop here.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;

pub(crate) struct TableSelect<K, V, K2, V2, F> {
    selector: Arc<F>,
    key_serde: SharedSerde<K2>,
    versioned: bool,
    _types: PhantomData<fn(K, V, V2)>,
}

impl<K, V, K2, V2, F> TableSelect<K, V, K2, V2, F> {
    pub(crate) fn new(selector: Arc<F>, key_serde: SharedSerde<K2>, versioned: bool) -> Self {
        TableSelect {
            selector,
            key_serde,
            versioned,
            _types: PhantomData,
        }
    }
}

impl<K, V, K2, V2, F> Processor for TableSelect<K, V, K2, V2, F>
where
    K: 'static,
    V: 'static,
    K2: Clone + PartialEq + 'static,
    V2: Clone + 'static,
    F: Fn(&K, &V) -> (K2, V2) + 'static,
{
    type KeyIn = K;
    type ValueIn = Change<V>;
    type KeyOut = K2;
    type ValueOut = Change<V2>;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K2, Change<V2>>,
        record: Record<K, Change<V>>,
    ) -> ProcessResult {
        if self.versioned && !ctx.change_is_latest() {
            return Ok(());
        }
        let select = |v: &Option<V>| {
            v.as_ref()
                .map(|v| (self.selector)(&record.key, v))
                .filter(|(k, _)| !self.key_serde.is_null(k))
        };
        let new = select(&record.value.new);
        let old = select(&record.value.old);
        let out = |key: K2, change: Change<V2>| Record {
            key,
            value: change,
            timestamp: record.timestamp,
            headers: record.headers.clone(),
        };
        match (old, new) {
            (Some((old_key, old_value)), Some((new_key, new_value))) if old_key == new_key => {
                Ok(ctx.forward(out(
                    new_key,
                    Change {
                        new: Some(new_value),
                        old: Some(old_value),
                    },
                ))?)
            }
            (old, new) => {
                if let Some((key, value)) = old {
                    ctx.forward(out(
                        key,
                        Change {
                            new: None,
                            old: Some(value),
                        },
                    ))?;
                }
                if let Some((key, value)) = new {
                    ctx.forward(out(
                        key,
                        Change {
                            new: Some(value),
                            old: None,
                        },
                    ))?;
                }
                Ok(())
            }
        }
    }
}
