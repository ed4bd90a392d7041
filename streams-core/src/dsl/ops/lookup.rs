//! Row lookups in a table's store when it is not a key-value store: a windowed aggregation's
//! table keeps its rows in a window or session store, which Kafka Streams reads through the
//! aggregation's value getter (`KStreamWindowAggregateValueGetter`,
//! `KTableSessionWindowValueGetter`); joins of such tables read them the same way.

use std::sync::Arc;

use crate::Result;
use crate::dsl::Windowed;
use crate::state::{Session, StoreRegistry};

/// Looks one row up: its value and timestamp.
pub(crate) type RowGetter<K, V> = Box<dyn Fn(&K) -> Result<Option<(V, i64)>>>;

/// Makes a [`RowGetter`] for a processor (named by the second argument) from its task's
/// stores.
pub(crate) type TableLookup<K, V> =
    Arc<dyn Fn(&StoreRegistry, &str) -> Result<RowGetter<K, V>> + Send + Sync>;

/// The rows of a time- or sliding-window aggregation: `(aggregate, timestamp)` by key and window
/// start.
pub(crate) fn window_rows<K: 'static, V: 'static>(store: String) -> TableLookup<Windowed<K>, V> {
    Arc::new(move |stores: &StoreRegistry, node: &str| {
        let handle = stores.window::<K, (V, i64)>(&store, Some(node))?;
        let get: RowGetter<Windowed<K>, V> =
            Box::new(move |key: &Windowed<K>| handle.fetch_one(&key.key, key.window.start));
        Ok(get)
    })
}

/// The rows of a session aggregation: the aggregate of exactly the key's session, stamped with
/// the session's end, as Kafka's session value getter does.
pub(crate) fn session_rows<K: 'static, V: 'static>(store: String) -> TableLookup<Windowed<K>, V> {
    Arc::new(move |stores: &StoreRegistry, node: &str| {
        let handle = stores.session::<K, V>(&store, Some(node))?;
        let get: RowGetter<Windowed<K>, V> = Box::new(move |key: &Windowed<K>| {
            let wanted = Session {
                start: key.window.start,
                end: key.window.end,
            };
            Ok(handle
                .find_sessions(&key.key, wanted.end, wanted.start)?
                .into_iter()
                .find(|(session, _)| *session == wanted)
                .map(|(_, value)| (value, wanted.end)))
        });
        Ok(get)
    })
}
