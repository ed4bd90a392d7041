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
