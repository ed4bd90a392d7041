//! Every built-in serde on arbitrary bytes, and values derived from the input through every
//! serde and back.
//!
//! The first byte picks a mode: one of the byte decoders of `streams_core::fuzzing::TARGETS`
//! that are serdes (strings, bytes, integers, nullable, bincode, JSON, time- and
//! session-windowed keys, table changes, timestamped values, foreign-key join messages), whose
//! accepted inputs must survive a round trip; the versioned serde of a derived two-version
//! type; or typed values built from the rest of the input, which every serde must give back
//! unchanged (`deserialize(serialize(x)) == x`).

#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use streams_core::dsl::{Window, Windowed, WindowedSerde};
use streams_core::fuzzing::{TARGETS, round_trip};
use streams_core::serde::{Serde, Serdes, Versioned};

/// A value with every shape serde's data model has but floats (JSON reads floats back only
/// approximately): nesting, enums, maps, options, wide integers, chars, unit.
#[derive(Debug, Clone, PartialEq, Arbitrary, Serialize, Deserialize)]
struct Value {
    text: String,
    small: i8,
    signed: i64,
    unsigned: u64,
    wide: u128,
    wide_signed: i128,
    letter: char,
    flag: bool,
    blob: Vec<u8>,
    map: BTreeMap<String, u32>,
    pair: (u16, Option<String>),
    kind: Kind,
    unit: (),
    next: Option<Box<Value>>,
}

#[derive(Debug, Clone, PartialEq, Arbitrary, Serialize, Deserialize)]
enum Kind {
    Unit,
    Newtype(i32),
    Tuple(String, Vec<u64>),
    Struct { a: Option<u8>, b: Vec<String> },
}

/// Floats, through bincode only (compared bit for bit: NaN is not equal to itself).
#[derive(Debug, Clone, Arbitrary, Serialize, Deserialize)]
struct Floats {
    single: f32,
    double: f64,
    many: Vec<f64>,
}

impl Floats {
    fn bits(&self) -> (u32, u64, Vec<u64>) {
        (
            self.single.to_bits(),
            self.double.to_bits(),
            self.many.iter().map(|f| f.to_bits()).collect(),
        )
    }
}

/// The first version of a versioned record (bincode fields).
#[derive(Debug, Clone, PartialEq, Arbitrary, Serialize, Deserialize, Versioned)]
#[versioned(version = 1, format = "bincode")]
struct AccountV1 {
    id: u64,
    owner: String,
}

/// Its second version (JSON fields), reading the first.
#[derive(Debug, Clone, PartialEq, Arbitrary, Serialize, Deserialize, Versioned)]
#[versioned(version = 2, previous = AccountV1)]
struct Account {
    id: u64,
    owner: String,
    limits: Vec<i64>,
}

impl From<AccountV1> for Account {
    fn from(old: AccountV1) -> Self {
        Account {
            id: old.id,
            owner: old.owner,
            limits: Vec::new(),
        }
    }
}

/// `value` through `serde` and back.
fn same<T: PartialEq + std::fmt::Debug + 'static>(serde: &dyn Serde<T>, value: &T) {
    let mut bytes = Vec::new();
    if let Err(e) = serde.serialize(value, &mut bytes) {
        panic!("{value:?} does not serialize: {e}");
    }
    match serde.deserialize(&bytes) {
        Ok(back) => assert_eq!(&back, value, "read back from {bytes:02x?}"),
        Err(e) => panic!("{value:?} serialized as {bytes:02x?} does not read back: {e}"),
    }
}

/// Typed values from the input through every serde.
fn values(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let text = String::arbitrary(u)?;
    same(&*Serdes::string(), &text);
    same(&*Serdes::bytes(), &Vec::<u8>::arbitrary(u)?);
    same(&*Serdes::u64(), &u64::arbitrary(u)?);
    same(&*Serdes::i64(), &i64::arbitrary(u)?);

    let nullable = Serdes::nullable(Serdes::string());
    let maybe = Option::<String>::arbitrary(u)?;
    if nullable.is_null(&maybe) {
        assert_eq!(maybe, None, "only None is null");
        assert_eq!(nullable.deserialize_null().ok(), Some(None));
    } else {
        same(&*nullable, &maybe);
    }
    assert!(
        Serdes::string().deserialize_null().is_err(),
        "null needs Nullable"
    );

    let value = Value::arbitrary(u)?;
    same(&*Serdes::bincode::<Value>(), &value);
    same(&*Serdes::json::<Value>(), &value);
    let floats = Floats::arbitrary(u)?;
    let serde = Serdes::bincode::<Floats>();
    let mut bytes = Vec::new();
    serde
        .serialize(&floats, &mut bytes)
        .expect("floats serialize");
    let back = serde.deserialize(&bytes).expect("floats read back");
    assert_eq!(back.bits(), floats.bits());

    // Time windows: `key | start`, the end derived from the size (saturating).
    let size_ms = u64::arbitrary(u)? >> 1;
    let start = i64::arbitrary(u)?;
    let end = start.saturating_add(size_ms as i64);
    let windowed = Windowed {
        key: text.clone(),
        window: Window { start, end },
    };
    same(
        &WindowedSerde::time(Serdes::string(), Duration::from_millis(size_ms)),
        &windowed,
    );
    same(
        &WindowedSerde::time(Serdes::bincode::<Value>(), Duration::from_millis(size_ms)),
        &Windowed {
            key: value.clone(),
            window: Window { start, end },
        },
    );
    // Any duration, even past i64::MAX ms, is a size the serde takes.
    let huge = Duration::new(u64::arbitrary(u)?, 0);
    let _ = WindowedSerde::time(Serdes::string(), huge).deserialize(&[0; 8]);
    // Session windows: `key | end | start`, any two times.
    let session = Windowed {
        key: text,
        window: Window {
            start: i64::arbitrary(u)?,
            end: i64::arbitrary(u)?,
        },
    };
    same(&WindowedSerde::session(Serdes::string()), &session);
    let nested: Arc<dyn Serde<Windowed<String>>> =
        Arc::new(WindowedSerde::session(Serdes::string()));
    same(
        &WindowedSerde::session(nested),
        &Windowed {
            key: session.clone(),
            window: session.window,
        },
    );

    // Versioned: each version reads itself; the second reads the first, upgraded.
    let old = AccountV1::arbitrary(u)?;
    same(&*Serdes::versioned::<AccountV1>(), &old);
    same(&*Serdes::versioned::<Account>(), &Account::arbitrary(u)?);
    let mut bytes = Vec::new();
    Serdes::versioned::<AccountV1>()
        .serialize(&old, &mut bytes)
        .expect("v1 serializes");
    let upgraded = Serdes::versioned::<Account>()
        .deserialize(&bytes)
        .expect("v2 reads v1");
    assert_eq!(upgraded, Account::from(old));
    Ok(())
}

fn serde_targets() -> Vec<&'static str> {
    TARGETS
        .iter()
        .copied()
        .filter(|t| t.starts_with("serde-") || t.starts_with("fk-"))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let decoders = serde_targets();
    let mode = usize::from(mode) % (decoders.len() + 2);
    if let Some(target) = decoders.get(mode) {
        match round_trip(target, input) {
            Some(Ok(_)) => {}
            Some(Err(why)) => panic!("{target}: {why}"),
            None => panic!("unknown target {target}"),
        }
    } else if mode == decoders.len() {
        // Versioned bytes: the version, then that version's fields.
        if let Ok(account) = Serdes::versioned::<Account>().deserialize(input) {
            same(&*Serdes::versioned::<Account>(), &account);
        }
        let _ = Serdes::versioned::<AccountV1>().deserialize(input);
    } else {
        let _ = values(&mut Unstructured::new(input));
    }
});
