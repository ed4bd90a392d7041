//! Our twins of the Java topologies (`java/kafka-streams-oracle/.../*Topologies.java`): the
//! same topics, store names, functions and serdes. Java's nullable `String` is our
//! `Option<String>` ([`S`]) wherever a null can arrive: stream keys and values, table keys.

pub(crate) mod aggregations;
pub(crate) mod cogroup;
pub(crate) mod joins;
pub(crate) mod processors;
pub(crate) mod stateless;
pub(crate) mod suppress;
pub(crate) mod tables;
pub(crate) mod versioned;
pub(crate) mod windows;

use std::time::Duration;

use streams_core::dsl::{Consumed, KStream, Windowed};
use streams_core::serde::Serdes;

use super::dump::Show;

/// A string that may be Kafka's null.
pub(crate) type S = Option<String>;

/// `Consumed.with(String, String)` for a stream: key and value may be null.
pub(crate) fn strings() -> Consumed<S, S> {
    Consumed::with(
        Serdes::nullable(Serdes::string()),
        Serdes::nullable(Serdes::string()),
    )
}

/// `Consumed.with(String, String)` for a table: the key may be null (the record is dropped),
/// a null value is a tombstone.
pub(crate) fn table_strings() -> Consumed<S, String> {
    Consumed::with(Serdes::nullable(Serdes::string()), Serdes::string())
}

/// Java's `Topologies.first`: the first character, or null for null or empty.
pub(crate) fn first(value: &S) -> S {
    value.as_deref().and_then(first_of)
}

/// [`first`] of a value that is never null.
pub(crate) fn first_of(value: &str) -> S {
    value.chars().next().map(String::from)
}

/// Java's `Topologies.show`: "null" for null.
pub(crate) fn show(value: &S) -> String {
    value.show()
}

/// Java's `JoinTopologies.pair`.
pub(crate) fn pair(left: Option<&str>, right: Option<&str>) -> S {
    Some(format!(
        "{}&{}",
        left.unwrap_or("null"),
        right.unwrap_or("null")
    ))
}

/// Java's `Topologies.unwindow`: windowed keys as `key@start/end`.
pub(crate) fn unwindow<V: Clone + 'static>(stream: KStream<Windowed<S>, V>) -> KStream<S, V> {
    stream.map(|key: Windowed<S>, value: V| (Some(key.show()), value))
}

pub(crate) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}
