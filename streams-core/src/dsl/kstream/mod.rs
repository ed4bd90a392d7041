//! [`KStream`]: a record stream and its operators.
//!
//! The handle and its record-by-record operators are here; the others by idea: `output`
//! (sinks), `grouping` (grouping and repartitioning by key), `branch` (`split`) and `joins`
//! (thin calls into the joins' lowering, beside their processors in `dsl::ops`).

mod branch;
mod fallible;
mod grouping;
mod joins;
mod output;

use std::convert::Infallible;
use std::sync::Arc;

use super::builder::SharedState;
use super::ops::branch::PassThrough;
use super::ops::foreach::Foreach;
use super::ops::{Filter, Map, MapValues, Peek, TryFlatMap, TryFlatMapValues};
use crate::serde::SharedSerde;

pub use branch::BranchedKStream;

/// An unbounded stream of key-value records. Cheap to clone; each operator returns a new handle.
pub struct KStream<K, V> {
    pub(crate) state: SharedState,
    pub(crate) node: String,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// Set once an operator may have changed the key: grouping then repartitions.
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            state: self.state.clone(),
            node: self.node.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K, V> std::fmt::Debug for KStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KStream")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    pub(crate) fn new(
        state: SharedState,
        node: String,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        repartition_required: bool,
    ) -> Self {
        KStream {
            state,
            node,
            key_serde,
            value_serde,
            repartition_required,
        }
    }

    /// The name of the node this handle points at.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let s = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string())).filter(|_k, _v| true);
    /// assert_eq!(s.node_name(), "KSTREAM-FILTER-0000000001");
    /// ```
    pub fn node_name(&self) -> &str {
        &self.node
    }

    fn child<K2: Clone + 'static, V2: Clone + 'static>(
        &self,
        node: String,
        key_serde: Option<SharedSerde<K2>>,
        value_serde: Option<SharedSerde<V2>>,
        repartition_required: bool,
    ) -> KStream<K2, V2> {
        KStream::new(
            self.state.clone(),
            node,
            key_serde,
            value_serde,
            repartition_required,
        )
    }

    fn add<P, F>(&self, prefix: &str, supplier: F) -> String
    where
        P: crate::processor::Processor,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let mut state = self.state.borrow_mut();
        let name = state.new_name(prefix);
        state.add_processor(&name, supplier, &self.node);
        name
    }

    /// [`add`](Self::add) for an operator that may change keys (`topology.optimization`
    /// merges the repartition topics such an operator feeds).
    fn add_key_changing<P, F>(&self, prefix: &str, supplier: F) -> String
    where
        P: crate::processor::Processor,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add(prefix, supplier);
        self.state.borrow_mut().mark_key_changing(&name);
        name
    }

    /// [`add`](Self::add) for an operator that changes values, not keys (a repartition topic
    /// below one is not merged with the key change's others, as in Kafka Streams).
    fn add_value_changing<P, F>(&self, prefix: &str, supplier: F) -> String
    where
        P: crate::processor::Processor,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add(prefix, supplier);
        self.state.borrow_mut().mark_value_changing(&name);
        name
    }

    /// Keeps the records for which `predicate` is true.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let large = stream.filter(|_account, cents: &i64| *cents > 10_000);
    /// # let _ = large;
    /// ```
    pub fn filter<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(move |k: &K, v: &V| Ok::<_, Infallible>(predicate(k, v)));
        let name = self.add("KSTREAM-FILTER", move || {
            Filter::new(predicate.clone(), true)
        });
        self.child(
            name,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Drops the records for which `predicate` is true.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let non_empty = stream.filter_not(|_k, v: &String| v.is_empty());
    /// # let _ = non_empty;
    /// ```
    pub fn filter_not<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(move |k: &K, v: &V| Ok::<_, Infallible>(predicate(k, v)));
        let name = self.add("KSTREAM-FILTER", move || {
            Filter::new(predicate.clone(), false)
        });
        self.child(
            name,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Replaces each record's key and value. The key may change, so a later grouping
    /// repartitions.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let by_value = stream.map(|k: String, v: String| (v, k.len() as u64));
    /// # let _ = by_value;
    /// ```
    pub fn map<K2, V2, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        F: Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    {
        let mapper = Arc::new(move |k, v| Ok::<_, Infallible>(mapper(k, v)));
        let name = self.add_key_changing("KSTREAM-MAP", move || Map::new(mapper.clone()));
        self.child(name, None, None, true)
    }

    /// Replaces each record's value; the key stays, so no repartitioning follows.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let lengths = stream.map_values(|v: String| v.len() as u64);
    /// # let _ = lengths;
    /// ```
    pub fn map_values<V2, F>(&self, mapper: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        F: Fn(V) -> V2 + Send + Sync + 'static,
    {
        let mapper = Arc::new(move |v| Ok::<_, Infallible>(mapper(v)));
        let name = self.add_value_changing("KSTREAM-MAPVALUES", move || {
            MapValues::<K, V, V2, Infallible, _>::new(mapper.clone())
        });
        self.child(
            name,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Replaces each record by zero or more records with the same key and the values `mapper`
    /// yields.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let words = stream.flat_map_values(|line: String| {
    ///     line.split_whitespace().map(String::from).collect::<Vec<_>>()
    /// });
    /// # let _ = words;
    /// ```
    pub fn flat_map_values<V2, I, F>(&self, mapper: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        I: IntoIterator<Item = V2> + 'static,
        F: Fn(V) -> I + Send + Sync + 'static,
    {
        // The fallible operator's processor, with an error that cannot happen.
        let mapper = Arc::new(move |_: &K, v| Ok::<_, Infallible>(mapper(v)));
        let name = self.add_value_changing("KSTREAM-FLATMAPVALUES", move || {
            TryFlatMapValues::new(mapper.clone())
        });
        self.child(
            name,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Replaces each record by zero or more records with new keys and values; a later
    /// grouping or join repartitions.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let per_word = stream.flat_map(|_k: String, line: String| {
    ///     line.split(' ').map(|w| (w.to_string(), 1u64)).collect::<Vec<_>>()
    /// });
    /// # let _ = per_word;
    /// ```
    pub fn flat_map<K2, V2, I, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        I: IntoIterator<Item = (K2, V2)> + 'static,
        F: Fn(K, V) -> I + Send + Sync + 'static,
    {
        let mapper = Arc::new(move |k, v| Ok::<_, Infallible>(mapper(k, v)));
        let name =
            self.add_key_changing("KSTREAM-FLATMAP", move || TryFlatMap::new(mapper.clone()));
        self.child(name, None, None, true)
    }

    /// Replaces each record's key with `selector(key, value)`; a later grouping or join
    /// repartitions.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let by_first_letter = stream.select_key(|_k, v: &String| v.chars().next().unwrap_or(' ').to_string());
    /// # let _ = by_first_letter;
    /// ```
    pub fn select_key<K2, F>(&self, selector: F) -> KStream<K2, V>
    where
        K2: Clone + 'static,
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        let mapper = Arc::new(move |k: K, v: V| Ok::<_, Infallible>((selector(&k, &v), v)));
        let name = self.add_key_changing("KSTREAM-KEY-SELECT", move || Map::new(mapper.clone()));
        self.child(name, None, self.value_serde.clone(), true)
    }

    /// Calls `action` on each record and passes it on unchanged.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let logged = stream.peek(|k: &String, v: &String| println!("{k} -> {v}"));
    /// # let _ = logged;
    /// ```
    pub fn peek<F>(&self, action: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        let name = self.add("KSTREAM-PEEK", move || Peek::new(action.clone()));
        self.child(
            name,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Calls `action` on each record; nothing follows (a terminal operation).
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// stream.foreach(|k: &String, v: &String| println!("{k}: {v}"));
    /// ```
    pub fn foreach<F>(&self, action: F)
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        self.add("KSTREAM-FOREACH", move || Foreach::new(action.clone()));
    }

    /// Merges this stream with `other` (same types) into one: records of both flow on,
    /// each in its own order.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// let web = builder.stream("web-clicks", Consumed::with(Serdes::string(), Serdes::string()));
    /// let app = builder.stream("app-clicks", Consumed::with(Serdes::string(), Serdes::string()));
    /// web.merge(&app).to("all-clicks");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let mut state = self.state.borrow_mut();
        let name = state.new_name("KSTREAM-MERGE");
        state.add_processor_with_parents(
            &name,
            PassThrough::<K, V>::new,
            &[&self.node, &other.node],
        );
        state.mark_merge(&name);
        drop(state);
        self.child(
            name,
            self.key_serde.clone().or_else(|| other.key_serde.clone()),
            self.value_serde
                .clone()
                .or_else(|| other.value_serde.clone()),
            self.repartition_required || other.repartition_required,
        )
    }

    /// Runs a user [`Processor`](crate::processor::Processor) (one per task, made by
    /// `supplier`) with access to the named stores (added with
    /// [`StreamsBuilder::add_state_store`](super::StreamsBuilder::add_state_store)). It may
    /// change keys, so a later grouping or join repartitions.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::processor::{ProcessResult, Processor, ProcessorContext, Record};
    /// use streams_core::serde::Serdes;
    /// use streams_core::Result;
    ///
    /// struct Swap;
    /// impl Processor for Swap {
    ///     type KeyIn = String;
    ///     type ValueIn = String;
    ///     type KeyOut = String;
    ///     type ValueOut = String;
    ///     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>) -> ProcessResult {
    ///         let (k, v) = (r.key.clone(), r.value.clone());
    ///         ctx.forward(r.with_key(v).with_value(k))?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .process(|| Swap, &[])
    ///     .to("out");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn process<P, S>(&self, supplier: S, stores: &[&str]) -> KStream<P::KeyOut, P::ValueOut>
    where
        P: crate::processor::Processor<KeyIn = K, ValueIn = V>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add_key_changing("KSTREAM-PROCESSOR", supplier);
        let mut state = self.state.borrow_mut();
        for store in stores {
            state.connect_store(&name, store);
        }
        drop(state);
        KStream::new(self.state.clone(), name, None, None, true)
    }

    /// Runs a user [`FixedKeyProcessor`](crate::processor::FixedKeyProcessor): it can change
    /// values but not keys, so no repartitioning follows.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::processor::{FixedKeyContext, FixedKeyProcessor, FixedKeyRecord, ProcessResult};
    /// use streams_core::serde::Serdes;
    /// use streams_core::Result;
    ///
    /// struct Len;
    /// impl FixedKeyProcessor for Len {
    ///     type Key = String;
    ///     type ValueIn = String;
    ///     type ValueOut = u64;
    ///     fn process(&mut self, ctx: &mut FixedKeyContext<'_, '_, String, u64>, r: FixedKeyRecord<String, String>) -> ProcessResult {
    ///         let len = r.value().len() as u64;
    ///         ctx.forward(r.with_value(len))?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .process_values(|| Len, &[])
    ///     .to("lengths");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn process_values<P, S>(&self, supplier: S, stores: &[&str]) -> KStream<K, P::ValueOut>
    where
        P: crate::processor::FixedKeyProcessor<Key = K, ValueIn = V>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add_value_changing("KSTREAM-PROCESSVALUES", move || {
            crate::processor::FixedKeyAdapter(supplier())
        });
        let mut state = self.state.borrow_mut();
        for store in stores {
            state.connect_store(&name, store);
        }
        drop(state);
        self.child(
            name,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }
}
