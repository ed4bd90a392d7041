//! `suppress(until_window_closes)`: buffers each window's latest update and emits it once, when
//! the window has closed (window end + grace, plus the gap for sessions, reached by the stream
//! time of the updates seen). Deletes are dropped. The buffer is a logged store, so it survives
//! restarts.

use std::marker::PhantomData;

use crate::Result;
use crate::dsl::{Change, Windowed};
use crate::processor::ProcessResult;
use crate::processor::{Headers, Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::KeyValueStoreHandle;
use streams_state::segments::{decode_time, encode_time};

pub(crate) struct SuppressUntilWindowCloses<K, V> {
    store_name: String,
    delay: i64,
    key_serde: SharedSerde<Windowed<K>>,
    value_serde: SharedSerde<V>,
    /// Buffer: `window end | windowed key` → `timestamp | present flag | value`.
    store: Option<KeyValueStoreHandle<Vec<u8>, Vec<u8>>>,
    observed: i64,
    /// The smallest window end in the buffer (`i64::MAX` when empty), so that most records
    /// need no scan.
    min_end: i64,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> SuppressUntilWindowCloses<K, V> {
    pub(crate) fn new(
        store_name: String,
        delay: i64,
        key_serde: SharedSerde<Windowed<K>>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        SuppressUntilWindowCloses {
            store_name,
            delay,
            key_serde,
            value_serde,
            store: None,
            observed: -1,
            min_end: i64::MAX,
            _types: PhantomData,
        }
    }
}

fn serde_err(store: &str) -> impl Fn(crate::serde::SerdeError) -> crate::Error + '_ {
    move |source| crate::Error::StoreSerde {
        store: store.to_string(),
        source,
    }
}

impl<K: Clone + 'static, V: Clone + 'static> SuppressUntilWindowCloses<K, V> {
    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>,
    ) -> Result<()> {
        let store = ctx.initialized(&self.store)?;
        let expiry = self.observed - self.delay;
        if self.min_end > expiry {
            return Ok(());
        }
        self.min_end = i64::MAX;
        for (buffer_key, entry) in store.all()? {
            let Some(end) = buffer_key.first_chunk::<8>().map(|b| decode_time(*b)) else {
                continue;
            };
            if end > expiry {
                self.min_end = end;
                break;
            }
            store.delete(&buffer_key)?;
            let (ts, rest) = entry
                .split_first_chunk::<8>()
                .map(|(t, r)| (i64::from_be_bytes(*t), r))
                .unwrap_or((0, &[]));
            let Some((&present, value)) = rest.split_first() else {
                continue;
            };
            if present == 0 {
                continue;
            }
            let key = self
                .key_serde
                .deserialize(&buffer_key[8..])
                .map_err(serde_err(&self.store_name))?;
            let value = self
                .value_serde
                .deserialize(value)
                .map_err(serde_err(&self.store_name))?;
            ctx.forward(Record {
                key,
                value: Change {
                    new: Some(value),
                    old: None,
                },
                timestamp: ts,
                headers: Headers::new(),
            })?;
        }
        Ok(())
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor for SuppressUntilWindowCloses<K, V> {
    type KeyIn = Windowed<K>;
    type ValueIn = Change<V>;
    type KeyOut = Windowed<K>;
    type ValueOut = Change<V>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>) -> ProcessResult {
        let store: KeyValueStoreHandle<Vec<u8>, Vec<u8>> = ctx.key_value_store(&self.store_name)?;
        // After a restart the buffer comes back from its changelog; find its earliest window.
        self.min_end = store
            .all()?
            .first()
            .and_then(|(k, _)| k.first_chunk::<8>().map(|b| decode_time(*b)))
            .unwrap_or(i64::MAX);
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>,
        record: Record<Windowed<K>, Change<V>>,
    ) -> ProcessResult {
        self.observed = self.observed.max(record.timestamp);
        let mut buffer_key = encode_time(record.key.window.end).to_vec();
        self.key_serde
            .serialize(&record.key, &mut buffer_key)
            .map_err(serde_err(&self.store_name))?;
        let mut entry = record.timestamp.to_be_bytes().to_vec();
        match &record.value.new {
            Some(value) if !self.value_serde.is_null(value) => {
                entry.push(1);
                self.value_serde
                    .serialize(value, &mut entry)
                    .map_err(serde_err(&self.store_name))?;
            }
            _ => entry.push(0),
        }
        ctx.initialized(&self.store)?.put(&buffer_key, &entry)?;
        self.min_end = self.min_end.min(record.key.window.end);
        Ok(self.emit_closed(ctx)?)
    }
}
