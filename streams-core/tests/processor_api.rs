//! The Processor API through the test driver: user processors, stores, type checks.

use streams_core::processor::{Processor, ProcessorContext, Record};
use streams_core::serde::Serdes;
use streams_core::state::{KeyValueStoreHandle, StoreBuilder, StoreEngine};
use streams_core::testing::TopologyTestDriver;
use streams_core::{Error, Result, Topology};

/// Emits the running total per key, kept in a store, with the record's offset in a header.
#[derive(Default)]
struct RunningTotal {
    store: Option<KeyValueStoreHandle<String, i64>>,
}

impl Processor for RunningTotal {
    type KeyIn = String;
    type ValueIn = i64;
    type KeyOut = String;
    type ValueOut = i64;

    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> streams_core::processor::ProcessResult {
        self.store = Some(ctx.key_value_store("totals")?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        record: Record<String, i64>,
    ) -> streams_core::processor::ProcessResult {
        let store = self.store.as_ref().expect("initialized");
        let total = store.get(&record.key)?.unwrap_or(0) + record.value;
        store.put(&record.key, &total)?;
        let offset = ctx.record_metadata().expect("from a topic").offset;
        let mut out = record.with_value(total);
        out.headers
            .add("offset", Some(offset.to_string().into_bytes()));
        Ok(ctx.forward(out)?)
    }
}

fn topology(engine: StoreEngine) -> Result<Topology> {
    let mut topology = Topology::new();
    topology
        .add_source("src", &["amounts"], Serdes::string(), Serdes::i64())?
        .add_processor("total", RunningTotal::default, &["src"])?
        .add_state_store(
            StoreBuilder::key_value("totals", Serdes::string(), Serdes::i64()).with_engine(engine),
            &["total"],
        )?
        .add_sink(
            "sink",
            "totals-out",
            Serdes::string(),
            Serdes::i64(),
            &["total"],
        )?;
    Ok(topology)
}

#[test]
fn user_processor_with_a_store_in_rocksdb_and_in_memory() -> Result<()> {
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        let driver = TopologyTestDriver::new(topology(engine)?)?;
        let input = driver.input_topic("amounts", Serdes::string(), Serdes::i64());
        input.pipe_input("acct".into(), 10, 1)?;
        input.pipe_input("acct".into(), -3, 2)?;
        input.pipe_input("other".into(), 5, 3)?;
        let out = driver
            .output_topic("totals-out", Serdes::string(), Serdes::i64())
            .read_records()?;
        let values: Vec<_> = out.iter().map(|r| (r.key.as_str(), r.value)).collect();
        assert_eq!(
            values,
            vec![("acct", 10), ("acct", 7), ("other", 5)],
            "{engine:?}"
        );
        let offsets: Vec<_> = out
            .iter()
            .map(|r| {
                r.headers
                    .last("offset")
                    .and_then(|h| h.value.clone())
                    .expect("header")
            })
            .collect();
        assert_eq!(offsets, vec![b"0".to_vec(), b"1".to_vec(), b"2".to_vec()]);
        let store = driver.key_value_store::<String, i64>("totals")?;
        assert_eq!(store.get(&"acct".to_string())?, Some(7));
        assert_eq!(
            store.range(&"a".to_string(), &"b".to_string())?,
            vec![("acct".to_string(), 7)]
        );
        driver.close()?;
    }
    Ok(())
}

#[test]
fn rocksdb_state_survives_a_driver_restart_on_the_same_state_dir() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = streams_core::StreamsConfig::new();
    config
        .set("state.dir", dir.path().to_string_lossy().to_string())
        .set("application.id", "restart");
    let first = TopologyTestDriver::with_config(topology(StoreEngine::RocksDb)?, &config)?;
    first
        .input_topic("amounts", Serdes::string(), Serdes::i64())
        .pipe_input("a".into(), 4, 1)?;
    first.close()?;
    let second = TopologyTestDriver::with_config(topology(StoreEngine::RocksDb)?, &config)?;
    second
        .input_topic("amounts", Serdes::string(), Serdes::i64())
        .pipe_input("a".into(), 1, 2)?;
    let out = second
        .output_topic("totals-out", Serdes::string(), Serdes::i64())
        .read_key_values()?;
    assert_eq!(out, vec![("a".to_string(), 5)]);
    Ok(())
}

#[test]
fn adding_a_processor_whose_input_types_do_not_match_its_parent_fails() -> Result<()> {
    let mut topology = Topology::new();
    topology.add_source("src", &["amounts"], Serdes::string(), Serdes::string())?;
    let err = topology
        .add_processor("total", RunningTotal::default, &["src"])
        .expect_err("String values into an i64 processor");
    assert!(
        matches!(&err, Error::Topology(m) if m.contains("`src` forwards") && m.contains("i64")),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_processor_cannot_open_a_store_it_is_not_connected_to() -> Result<()> {
    let mut topology = Topology::new();
    topology
        .add_source("src", &["amounts"], Serdes::string(), Serdes::i64())?
        .add_processor("total", RunningTotal::default, &["src"])?
        .add_processor("other", RunningTotal::default, &["src"])?
        .add_state_store(
            StoreBuilder::key_value("totals", Serdes::string(), Serdes::i64()),
            &["other"],
        )?;
    let err = TopologyTestDriver::new(topology).expect_err("`total` is not connected to `totals`");
    assert!(
        matches!(&err, Error::StoreAccess { name, .. } if name == "totals"),
        "{err}"
    );
    Ok(())
}

#[test]
fn topology_rejects_duplicates_and_unknown_parents() -> Result<()> {
    let mut topology = Topology::new();
    topology.add_source("src", &["t"], Serdes::string(), Serdes::string())?;
    assert!(
        topology
            .add_source("src", &["u"], Serdes::string(), Serdes::string())
            .is_err()
    );
    assert!(
        topology
            .add_source("src2", &["t"], Serdes::string(), Serdes::string())
            .is_err()
    );
    assert!(
        topology
            .add_sink("sink", "out", Serdes::string(), Serdes::string(), &["nope"])
            .is_err()
    );
    Ok(())
}
