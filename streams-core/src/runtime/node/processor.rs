//! Processor nodes: a user's (or the DSL's) [`Processor`] with its children, run by the task.

use std::cell::RefCell;
use std::rc::Rc;

use super::{BuiltNode, ChildNode, Lifecycle, Node, downcast_children, erase_child};
use crate::processor::{Processor, ProcessorContext, Punctuation, Record};
use crate::runtime::TaskContext;
use crate::topology::node::{
    BuildContext, ErasedChild, ErasedNode, NodeFactory, ProcessorFactory, TypePair,
};
use crate::{Error, Result};

struct ProcessorNode<P: Processor> {
    name: Rc<str>,
    processor: P,
    children: Vec<ChildNode<P::KeyOut, P::ValueOut>>,
}

impl<P: Processor> Node<P::KeyIn, P::ValueIn> for ProcessorNode<P> {
    fn process(&mut self, task: &TaskContext, record: Record<P::KeyIn, P::ValueIn>) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor
            .process(&mut ctx, record)
            .map_err(|e| Error::from_user(&self.name, e))
    }
}

impl<P: Processor> Lifecycle for ProcessorNode<P> {
    fn name(&self) -> &str {
        &self.name
    }

    fn init(&mut self, task: &TaskContext) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor
            .init(&mut ctx)
            .map_err(|e| Error::from_user(&self.name, e))
    }

    fn punctuate(&mut self, task: &TaskContext, punctuation: Punctuation) -> Result<()> {
        task.set_metadata(None);
        task.set_timestamp(punctuation.timestamp);
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor
            .punctuate(&mut ctx, punctuation)
            .map_err(|e| Error::from_user(&self.name, e))
    }

    fn flush(&mut self, task: &TaskContext) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor
            .flush(&mut ctx)
            .map_err(|e| Error::from_user(&self.name, e))
    }

    fn close(&mut self, task: &TaskContext) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor
            .close(&mut ctx)
            .map_err(|e| Error::from_user(&self.name, e))
    }
}

impl<P, F> NodeFactory for ProcessorFactory<P, F>
where
    P: Processor,
    F: Fn() -> P + Send + Sync,
{
    fn input_types(&self) -> Option<TypePair> {
        Some(TypePair::of::<P::KeyIn, P::ValueIn>())
    }

    fn output_types(&self) -> Option<TypePair> {
        Some(TypePair::of::<P::KeyOut, P::ValueOut>())
    }

    fn build(
        &self,
        name: &str,
        _: &BuildContext<'_>,
        children: &[ErasedChild],
    ) -> Result<ErasedNode> {
        let node = Rc::new(RefCell::new(ProcessorNode {
            name: Rc::from(name),
            processor: (self.supplier)(),
            children: downcast_children(name, children)?,
        }));
        Ok(Box::new(BuiltNode {
            as_child: Some(erase_child(name, node.clone())),
            lifecycle: Some(node),
            source: None,
        }))
    }
}
