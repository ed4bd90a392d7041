//! The versioned store against a model of its semantics: any sequence of puts and deletes, in
//! any timestamp order, with any retention and segment size.

use super::*;
use crate::InMemoryKeyValueStore;

/// The semantics the store must have, in the plainest terms: per key, a map of timestamp to
/// value or tombstone.
#[derive(Default)]
struct Model {
    keys: std::collections::BTreeMap<u8, std::collections::BTreeMap<i64, Option<u8>>>,
    observed: i64,
    retention: i64,
}

impl Model {
    fn put(&mut self, key: u8, value: Option<u8>, ts: i64) -> PutOutcome {
        if ts < self.observed - self.retention {
            return PutOutcome::NotPut;
        }
        self.observed = self.observed.max(ts);
        let versions = self.keys.entry(key).or_default();
        versions.insert(ts, value);
        match versions.range(ts + 1..).next() {
            Some((&next, _)) => PutOutcome::ValidTo(next),
            None => PutOutcome::Latest,
        }
    }

    fn get_as_of(&self, key: u8, at: i64) -> Option<VersionedRecord<Vec<u8>>> {
        let versions = self.keys.get(&key)?;
        let (&latest_ts, latest) = versions.iter().next_back()?;
        if let Some(v) = latest
            && latest_ts <= at
        {
            return Some(VersionedRecord::new(vec![*v], latest_ts, None));
        }
        if at < self.observed - self.retention {
            return None;
        }
        let (&from, value) = versions.range(..=at).next_back()?;
        let to = versions.range(from + 1..).next().map(|(&t, _)| t);
        value.map(|v| VersionedRecord::new(vec![v], from, to))
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Option<u8>, i64),
    Delete(u8, i64),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0u8..3, proptest::option::of(0u8..5), 0i64..80).prop_map(|(k, v, t)| Op::Put(k, v, t)),
        1 => (0u8..3, 0i64..80).prop_map(|(k, t)| Op::Delete(k, t)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Any sequence of puts and deletes, in any timestamp order, gives the model's answers to
    /// every put, delete, latest and as-of lookup, whatever the retention and segment size.
    #[test]
    fn the_store_behaves_as_a_map_of_versions(
        ops in proptest::collection::vec(op(), 1..60),
        retention in proptest::sample::select(vec![0i64, 3, 10, 25, 1_000]),
        interval in proptest::sample::select(vec![1i64, 2, 5, 16, 1_000]),
    ) {
        let mut store = VersionedStore::open(Box::new(InMemoryKeyValueStore::new("p")), retention, interval)
            .expect("open");
        let mut model = Model { observed: -1, retention, ..Model::default() };
        for op in &ops {
            match *op {
                Op::Put(k, v, t) => {
                    let got = store.put(&[k], v.map(|v| [v]).as_ref().map(|v| v.as_slice()), t).expect("put");
                    proptest::prop_assert_eq!(got, model.put(k, v, t), "{:?}", op);
                }
                Op::Delete(k, t) => {
                    let expected = if t < model.observed - retention {
                        None
                    } else {
                        let existing = model.get_as_of(k, t);
                        model.put(k, None, t);
                        existing
                    };
                    proptest::prop_assert_eq!(store.delete(&[k], t).expect("delete"), expected, "{:?}", op);
                }
            }
            for k in 0u8..3 {
                for at in -1i64..82 {
                    proptest::prop_assert_eq!(
                        store.get_as_of(&[k], at).expect("get_as_of"),
                        model.get_as_of(k, at),
                        "key {} as of {} after {:?}", k, at, op
                    );
                }
                let latest = model.keys.get(&k).and_then(|v| v.iter().next_back())
                    .and_then(|(&ts, v)| v.map(|v| VersionedRecord::new(vec![v], ts, None)));
                proptest::prop_assert_eq!(store.get(&[k]).expect("get"), latest);
            }
        }
    }
}
