//! The nodes of a running task, typed inside and erased at the graph's seams.
//!
//! A task's nodes are typed: a node that forwards `(K, V)` holds its children as
//! `Rc<RefCell<dyn Node<K, V>>>`, so records move from node to node without boxing. The topology
//! keeps each node as an erased [`NodeFactory`] (its recipe), which this module implements for
//! sources (`source`), processors (`processor`) and sinks (`sink`). When a task is built,
//! children are built first and handed to their parents as `Rc<dyn Any>`, which each parent
//! downcasts to the child type it forwards. A mismatch is a topology error, caught when the
//! node is added.

mod processor;
mod sink;
mod source;

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use super::TaskContext;
use crate::processor::{Punctuation, Record};
use crate::topology::node::{BuildContext, ErasedChild, NodeFactory, TypePair};
use crate::{Error, Result};

pub(crate) use source::RawRecord;

/// A node that receives typed records.
pub(crate) trait Node<K, V> {
    fn process(&mut self, task: &TaskContext, record: Record<K, V>) -> Result<()>;
}

/// Init, punctuation, flush and close, for every processor node once per task.
pub(crate) trait Lifecycle {
    fn name(&self) -> &str;
    fn init(&mut self, task: &TaskContext) -> Result<()>;
    fn punctuate(&mut self, task: &TaskContext, punctuation: Punctuation) -> Result<()>;
    fn flush(&mut self, task: &TaskContext) -> Result<()>;
    fn close(&mut self, task: &TaskContext) -> Result<()>;
}

/// A source: decodes raw Kafka records and forwards them.
pub(crate) trait SourceNode {
    fn process_raw(&mut self, task: &TaskContext, raw: &RawRecord<'_>) -> Result<()>;
}

/// A parent's link to one child.
pub(crate) struct ChildNode<K, V> {
    pub(crate) name: Rc<str>,
    node: Rc<RefCell<dyn Node<K, V>>>,
}

impl<K, V> Clone for ChildNode<K, V> {
    fn clone(&self) -> Self {
        ChildNode {
            name: self.name.clone(),
            node: self.node.clone(),
        }
    }
}

impl<K, V> ChildNode<K, V> {
    pub(crate) fn process(&self, task: &TaskContext, record: Record<K, V>) -> Result<()> {
        task.set_timestamp(record.timestamp);
        let mut node = self.node.try_borrow_mut().map_err(|_| {
            Error::Topology(format!(
                "node `{}` was re-entered: the topology has a cycle",
                self.name
            ))
        })?;
        let previous = task.enter_node(&self.name);
        let result = node.process(task, record);
        if result.is_ok() {
            task.leave_node(previous);
        }
        result
    }
}

/// What building one node yields.
#[derive(Default)]
pub(crate) struct BuiltNode {
    /// `Rc<ChildNode<KIn, VIn>>` erased, for the node's parents; `None` for sources.
    pub(crate) as_child: Option<Rc<dyn Any>>,
    pub(crate) lifecycle: Option<Rc<RefCell<dyn Lifecycle>>>,
    pub(crate) source: Option<Rc<RefCell<dyn SourceNode>>>,
}

/// Builds one node of a task from its recipe in the topology.
pub(crate) fn build_node(
    factory: &dyn NodeFactory,
    name: &str,
    ctx: &BuildContext<'_>,
    children: &[ErasedChild],
) -> Result<BuiltNode> {
    factory
        .build(name, ctx, children)?
        .downcast::<BuiltNode>()
        .map(|node| *node)
        .map_err(|_| Error::Topology(format!("node `{name}` was not built into a task's node")))
}

pub(crate) fn downcast_children<K: 'static, V: 'static>(
    node: &str,
    children: &[ErasedChild],
) -> Result<Vec<ChildNode<K, V>>> {
    children
        .iter()
        .map(|child| {
            child
                .downcast_ref::<ChildNode<K, V>>()
                .cloned()
                .ok_or_else(|| {
                    Error::Topology(format!(
                        "node `{node}` forwards {} but one of its children accepts other types",
                        TypePair::of::<K, V>()
                    ))
                })
        })
        .collect()
}

pub(crate) fn erase_child<K: 'static, V: 'static, N: Node<K, V> + 'static>(
    name: &str,
    node: Rc<RefCell<N>>,
) -> ErasedChild {
    let node: Rc<RefCell<dyn Node<K, V>>> = node;
    Rc::new(ChildNode {
        name: Rc::from(name),
        node,
    })
}
