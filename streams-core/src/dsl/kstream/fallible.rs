//! Fallible record-by-record operators: the closure returns a `Result`, and its error (any type
//! that converts into [`BoxError`]) fails the record through `processing.exception.handler`
//! (fail, log and continue, or dead-letter), naming the operator's node, as a processor's own
//! error does.

use std::sync::Arc;

use super::KStream;
use crate::dsl::ops::{Filter, Map, MapValues, TryFlatMap};
use crate::error::BoxError;

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// [`map`](Self::map) with a closure that may fail. A new key means the stream is
    /// repartitioned before a grouping or join, as after `map`.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// // "user-42" → key 42; a key that is not a number fails the record.
    /// let by_id = stream.try_map(|key: String, value: String| {
    ///     let id: u64 = key.trim_start_matches("user-").parse()?;
    ///     Ok::<_, std::num::ParseIntError>((id, value))
    /// });
    /// # let _ = by_id;
    /// ```
    pub fn try_map<K2, V2, E, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        E: Into<BoxError> + 'static,
        F: Fn(K, V) -> Result<(K2, V2), E> + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let name = self.add_key_changing("KSTREAM-MAP", move || Map::new(mapper.clone()));
        self.child(name, None, None, true)
    }

    /// [`map_values`](Self::map_values) with a closure that may fail; the key stays.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// use streams_core::testing::TopologyTestDriver;
    /// use streams_core::StreamsConfig;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("raw", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .try_map_values(|v: String| v.trim().parse::<i64>())
    ///     .to_with("amounts", streams_core::dsl::Produced::with(Serdes::string(), Serdes::i64()));
    /// let mut config = StreamsConfig::new();
    /// config
    ///     .set("processing.exception.handler", "dead_letter")
    ///     .set("errors.dead.letter.queue.topic.name", "raw-dead-letters");
    /// let driver = TopologyTestDriver::with_config(builder.build()?, &config)?;
    /// let raw = driver.input_topic("raw", Serdes::string(), Serdes::string());
    /// raw.pipe_input("a".into(), "12".into(), 1)?;
    /// raw.pipe_input("b".into(), "twelve".into(), 2)?; // the parse error dead-letters it
    /// let amounts = driver.output_topic("amounts", Serdes::string(), Serdes::i64());
    /// assert_eq!(amounts.read_key_values()?, vec![("a".to_string(), 12)]);
    /// let dead = driver.output_topic("raw-dead-letters", Serdes::string(), Serdes::string());
    /// assert_eq!(dead.read_key_values()?, vec![("b".to_string(), "twelve".to_string())]);
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn try_map_values<V2, E, F>(&self, mapper: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        E: Into<BoxError> + 'static,
        F: Fn(V) -> Result<V2, E> + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let name = self.add_value_changing("KSTREAM-MAPVALUES", move || {
            MapValues::<K, V, V2, E, F>::new(mapper.clone())
        });
        self.child(
            name,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// [`flat_map`](Self::flat_map) with a closure that may fail: on an error no record of
    /// its output is forwarded.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// // "a=1,b=2" → (a, 1), (b, 2); a pair without `=` fails the record.
    /// let pairs = stream.try_flat_map(|_key: String, value: String| {
    ///     value
    ///         .split(',')
    ///         .map(|pair| pair.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
    ///         .collect::<Option<Vec<_>>>()
    ///         .ok_or("a pair without `=`")
    /// });
    /// # let _ = pairs;
    /// ```
    pub fn try_flat_map<K2, V2, I, E, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        I: IntoIterator<Item = (K2, V2)> + 'static,
        E: Into<BoxError> + 'static,
        F: Fn(K, V) -> Result<I, E> + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let name =
            self.add_key_changing("KSTREAM-FLATMAP", move || TryFlatMap::new(mapper.clone()));
        self.child(name, None, None, true)
    }

    /// [`filter`](Self::filter) with a predicate that may fail.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let large = stream.try_filter(|_key: &String, value: &String| {
    ///     Ok::<_, std::num::ParseIntError>(value.parse::<i64>()? > 10_000)
    /// });
    /// # let _ = large;
    /// ```
    pub fn try_filter<E, F>(&self, predicate: F) -> KStream<K, V>
    where
        E: Into<BoxError> + 'static,
        F: Fn(&K, &V) -> Result<bool, E> + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
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
}
