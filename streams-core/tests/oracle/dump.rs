//! Reading our driver's stores as the text lines the Java side prints:
//! `key -> value @timestamp` (timestamped key-value and window stores), `key -> value` (plain
//! key-value and session stores); window and session keys as `key@start/end`.

use streams_core::dsl::Windowed;

use super::registry::Dump;

/// Text of a key or value, as the Java side's `Oracle.render`.
pub(crate) trait Show {
    fn show(&self) -> String;
}

impl Show for String {
    fn show(&self) -> String {
        self.clone()
    }
}

impl Show for u64 {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for i64 {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        self.as_ref().map_or_else(|| "null".to_string(), Show::show)
    }
}

impl<K: Show> Show for Windowed<K> {
    fn show(&self) -> String {
        format!(
            "{}@{}/{}",
            self.key.show(),
            self.window.start,
            self.window.end
        )
    }
}

/// A timestamped key-value store (what the DSL materializes).
pub(crate) fn kv_ts<K: Show + 'static, V: Show + 'static>() -> Dump {
    Box::new(|driver, name| {
        let store = driver.key_value_store::<K, V>(name)?;
        let mut lines = Vec::new();
        for (key, value) in store.all()? {
            let ts = store
                .get_with_timestamp(&key)?
                .map_or(i64::MIN, |(_, ts)| ts);
            lines.push(format!("{} -> {} @{ts}", key.show(), value.show()));
        }
        Ok(lines)
    })
}

/// A plain key-value store (the Processor API's).
pub(crate) fn kv<K: Show + 'static, V: Show + 'static>() -> Dump {
    Box::new(|driver, name| {
        let store = driver.key_value_store::<K, V>(name)?;
        Ok(store
            .all()?
            .into_iter()
            .map(|(k, v)| format!("{} -> {}", k.show(), v.show()))
            .collect())
    })
}

/// A windowed aggregation's store: windows of `size` ms (for sliding windows, the time
/// difference), values with their timestamps.
pub(crate) fn window<K: Show + 'static, V: Show + 'static>(size: i64) -> Dump {
    Box::new(move |driver, name| {
        let store = driver.window_store::<K, (V, i64)>(name)?;
        Ok(store
            .all()?
            .into_iter()
            .map(|(k, start, (v, ts))| {
                format!(
                    "{}@{start}/{} -> {} @{ts}",
                    k.show(),
                    start + size,
                    v.show()
                )
            })
            .collect())
    })
}

/// The keys the generator uses (`scenario::KEYS`), as stored.
const KEYS: [&str; 4] = ["a", "b", "c", "d"];
/// The times versioned stores are read as of (the Java side's `Oracle.AS_OF`).
const AS_OF: [i64; 4] = [5, 15, 30, 60];

/// A versioned store: each key's latest version and its versions as of [`AS_OF`] (there are no
/// range queries on versioned stores), as `key as of <time> -> value @from`. The end of a
/// version's validity is not compared: Kafka 4.4's `get(key, asOf)` leaves it empty where ours
/// says when the next version (or delete) came.
pub(crate) fn versioned<V: Show + 'static>() -> Dump {
    Box::new(|driver, name| {
        let store = driver.versioned_key_value_store::<Option<String>, V>(name)?;
        let show = |found: Option<streams_state::VersionedRecord<V>>| {
            found.map_or_else(
                || "none".to_string(),
                |r| format!("{} @{}", r.value.show(), r.timestamp),
            )
        };
        let mut lines = Vec::new();
        for key in KEYS {
            let k = Some(key.to_string());
            lines.push(format!("{key} as of latest -> {}", show(store.get(&k)?)));
            for as_of in AS_OF {
                lines.push(format!(
                    "{key} as of {as_of} -> {}",
                    show(store.get_as_of(&k, as_of)?)
                ));
            }
        }
        Ok(lines)
    })
}

/// A session aggregation's store.
pub(crate) fn session<K: Show + 'static, V: Show + 'static>() -> Dump {
    Box::new(|driver, name| {
        let store = driver.session_store::<K, V>(name)?;
        Ok(store
            .all()?
            .into_iter()
            .map(|(k, s, v)| format!("{}@{}/{} -> {}", k.show(), s.start, s.end, v.show()))
            .collect())
    })
}
