//! Splitting a [`KStream`] into named branches: `split` and [`BranchedKStream`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::KStream;
use crate::dsl::Branched;
use crate::dsl::ops::branch::{Branch, PassThrough, Predicate};

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Splits the stream into named branches by predicates: each record goes to the first
    /// branch whose predicate holds. Branch streams are named `<node name><branch name>`; see
    /// [`split_named`](Self::split_named) to choose the prefix.
    ///
    /// ```
    /// use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let branches = builder
    ///     .stream("payments", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split_named("payments-")
    ///     .branch(|_k, cents: &i64| *cents >= 100_000, Branched::as_("large"))
    ///     .branch(|_k, cents: &i64| *cents < 0, Branched::as_("refunds"))
    ///     .default_branch(Branched::as_("other"));
    /// branches["payments-large"].to("large-payments");
    /// assert_eq!(branches.len(), 3);
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn split(&self) -> BranchedKStream<K, V> {
        let prefix = self.state.borrow_mut().new_name("KSTREAM-BRANCH");
        BranchedKStream {
            stream: self.clone(),
            node: prefix.clone(),
            prefix,
            branches: Vec::new(),
        }
    }

    /// [`split`](Self::split) with `prefix` naming the split node and prefixing branch names.
    ///
    /// ```
    /// # use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let branches = stream.split_named("sign-").branch(|_k, v: &i64| *v < 0, Branched::as_("negative")).no_default_branch();
    /// assert!(branches.contains_key("sign-negative"));
    /// ```
    pub fn split_named(&self, prefix: &str) -> BranchedKStream<K, V> {
        BranchedKStream {
            stream: self.clone(),
            node: prefix.to_string(),
            prefix: prefix.to_string(),
            branches: Vec::new(),
        }
    }
}

/// A stream being split into branches by [`KStream::split`]; finish with
/// [`default_branch`](Self::default_branch) or [`no_default_branch`](Self::no_default_branch).
pub struct BranchedKStream<K, V> {
    stream: KStream<K, V>,
    node: String,
    prefix: String,
    branches: Vec<(Option<Predicate<K, V>>, String)>,
}

impl<K, V> std::fmt::Debug for BranchedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BranchedKStream")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> BranchedKStream<K, V> {
    /// Adds a branch taking the records (not taken by an earlier branch) that `predicate`
    /// accepts; unnamed branches are numbered from 1.
    ///
    /// ```
    /// use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let branches = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split_named("n-")
    ///     .branch(|_k, v: &i64| *v < 0, Branched::as_("negative"))
    ///     .branch(|_k, v: &i64| *v == 0, Branched::default())
    ///     .no_default_branch();
    /// assert!(branches.contains_key("n-negative") && branches.contains_key("n-2"));
    /// ```
    pub fn branch<F>(mut self, predicate: F, branched: Branched) -> Self
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let name = branched
            .name
            .unwrap_or_else(|| (self.branches.len() + 1).to_string());
        self.branches
            .push((Some(Arc::new(predicate)), format!("{}{name}", self.prefix)));
        self
    }

    /// Adds a branch for every remaining record (unnamed: `0`) and returns the branches by
    /// name.
    ///
    /// ```
    /// use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let branches = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split_named("n-")
    ///     .branch(|_k, v: &i64| *v < 0, Branched::as_("negative"))
    ///     .default_branch(Branched::as_("rest"));
    /// assert!(branches.contains_key("n-rest"));
    /// ```
    pub fn default_branch(mut self, branched: Branched) -> BTreeMap<String, KStream<K, V>> {
        let name = branched.name.unwrap_or_else(|| "0".to_string());
        self.branches.push((None, format!("{}{name}", self.prefix)));
        self.finish()
    }

    /// Returns the branches by name; records no branch takes are dropped.
    ///
    /// ```
    /// use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let branches = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split_named("n-")
    ///     .branch(|_k, v: &i64| *v < 0, Branched::as_("negative"))
    ///     .no_default_branch();
    /// assert_eq!(branches.len(), 1);
    /// ```
    pub fn no_default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.finish()
    }

    fn finish(self) -> BTreeMap<String, KStream<K, V>> {
        let mut state = self.stream.state.borrow_mut();
        let branches = self.branches.clone();
        state.add_processor(
            &self.node,
            move || Branch::new(branches.clone()),
            &self.stream.node,
        );
        for (_, child) in &self.branches {
            state.add_processor(child, PassThrough::<K, V>::new, &self.node);
        }
        drop(state);
        self.branches
            .iter()
            .map(|(_, child)| {
                let stream = KStream::new(
                    self.stream.state.clone(),
                    child.clone(),
                    self.stream.key_serde.clone(),
                    self.stream.value_serde.clone(),
                    self.stream.repartition_required,
                );
                (child.clone(), stream)
            })
            .collect()
    }
}
