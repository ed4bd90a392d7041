//! `KTable::to_stream`: a table's changes as a stream of new values (`None` for deletes).

use std::marker::PhantomData;

use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct TableToStream<K, V>(PhantomData<fn(K, V)>);

impl<K, V> TableToStream<K, V> {
    pub(crate) fn new() -> Self {
        TableToStream(PhantomData)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor for TableToStream<K, V> {
    type KeyIn = K;
    type ValueIn = Change<V>;
    type KeyOut = K;
    type ValueOut = Option<V>;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Option<V>>,
        record: Record<K, Change<V>>,
    ) -> ProcessResult {
        let new = record.value.new.clone();
        Ok(ctx.forward(record.with_value(new))?)
    }
}
