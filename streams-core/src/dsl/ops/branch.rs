//! `split().branch(..)`: sends each record to the first branch whose predicate holds (or the
//! default branch), and a pass-through node used for branch children and `merge`.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

/// A branch predicate.
pub(crate) type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

pub(crate) struct Branch<K, V> {
    /// `(predicate, child)`; a `None` predicate (the default branch) matches everything.
    branches: Vec<(Option<Predicate<K, V>>, String)>,
}

impl<K, V> Branch<K, V> {
    pub(crate) fn new(branches: Vec<(Option<Predicate<K, V>>, String)>) -> Self {
        Branch { branches }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor for Branch<K, V> {
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = V;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
        record: Record<K, V>,
    ) -> ProcessResult {
        let target = self.branches.iter().find(|(predicate, _)| {
            predicate
                .as_ref()
                .is_none_or(|p| p(&record.key, &record.value))
        });
        match target {
            Some((_, child)) => Ok(ctx.forward_to(child, record)?),
            None => Ok(()),
        }
    }
}

/// Forwards every record unchanged.
pub(crate) struct PassThrough<K, V>(PhantomData<fn(K, V)>);

impl<K, V> PassThrough<K, V> {
    pub(crate) fn new() -> Self {
        PassThrough(PhantomData)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor for PassThrough<K, V> {
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = V;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
        record: Record<K, V>,
    ) -> ProcessResult {
        Ok(ctx.forward(record)?)
    }
}
