//! Twins of `ProcessorTopologies.java`.

use streams_core::processor::{
    ProcessResult, Processor, ProcessorContext, Punctuation, PunctuationType, Record,
};
use streams_core::serde::Serdes;
use streams_core::state::{KeyValueStoreHandle, StoreBuilder};
use streams_core::{Result, StreamsConfig, Topology};

use super::{S, ms, show};

pub(crate) fn punctuate_wall_clock(_config: &StreamsConfig) -> Result<Topology> {
    counter(PunctuationType::WallClockTime, 10)
}

pub(crate) fn punctuate_stream_time(_config: &StreamsConfig) -> Result<Topology> {
    counter(PunctuationType::StreamTime, 7)
}

/// Counts records per key in store "counts" (null keys skipped) and forwards "+value" for
/// each; every `interval` ms of `kind` forwards "key=count@time" for each key.
fn counter(kind: PunctuationType, interval: u64) -> Result<Topology> {
    let nullable = || Serdes::nullable(Serdes::string());
    let mut topology = Topology::new();
    topology
        .add_source("src", &["in"], nullable(), nullable())?
        .add_processor(
            "counter",
            move || Counter {
                kind,
                interval,
                store: None,
            },
            &["src"],
        )?
        .add_state_store(
            StoreBuilder::key_value("counts", Serdes::string(), Serdes::i64()),
            &["counter"],
        )?
        .add_sink("sink", "out", nullable(), nullable(), &["counter"])?;
    Ok(topology)
}

struct Counter {
    kind: PunctuationType,
    interval: u64,
    store: Option<KeyValueStoreHandle<String, i64>>,
}

impl Processor for Counter {
    type KeyIn = S;
    type ValueIn = S;
    type KeyOut = S;
    type ValueOut = S;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, S, S>) -> ProcessResult {
        self.store = Some(ctx.key_value_store("counts")?);
        ctx.schedule(ms(self.interval), self.kind)?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, S, S>,
        record: Record<S, S>,
    ) -> ProcessResult {
        let Some(key) = record.key.clone() else {
            return Ok(());
        };
        let store = self.store.as_ref().ok_or("not initialized")?;
        let count = store.get(&key)?.unwrap_or(0) + 1;
        store.put(&key, &count)?;
        let value = Some(format!("+{}", show(&record.value)));
        Ok(ctx.forward(record.with_value(value))?)
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, S, S>,
        punctuation: Punctuation,
    ) -> ProcessResult {
        let store = self.store.as_ref().ok_or("not initialized")?;
        let time = punctuation.timestamp;
        for (key, count) in store.all()? {
            let value = format!("{key}={count}@{time}");
            ctx.forward(Record::new(Some(key), Some(value), time))?;
        }
        Ok(())
    }
}
