//! Foreign-key table joins through the driver, with scenarios from Kafka Streams'
//! KTableKTableForeignKeyJoinIntegrationTest (read per step as the latest value per key).

use std::collections::BTreeMap;

use streams_core::Result;
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::serde::Serdes;
use streams_core::testing::{TestInputTopic, TestOutputTopic, TopologyTestDriver};

type Step = BTreeMap<String, Option<String>>;

struct Fk {
    left: TestInputTopic<String, Option<String>>,
    right: TestInputTopic<String, Option<String>>,
    out: TestOutputTopic<String, Option<String>>,
    _driver: TopologyTestDriver,
}

fn setup(left_join: bool) -> Result<Fk> {
    let builder = StreamsBuilder::new();
    let left = builder.table(
        "left",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::default(),
    );
    let right = builder.table(
        "right",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::default(),
    );
    let fk = |v: &String| {
        v.split('|')
            .nth(1)
            .filter(|fk| *fk != "returnNull")
            .map(String::from)
    };
    let result = if left_join {
        left.left_join_foreign_key(
            &right,
            fk,
            |l: &String, r: Option<&String>| format!("({l},{})", r.map_or("null", |r| r.as_str())),
            Materialized::as_("result").with_caching_disabled(),
        )
    } else {
        left.join_foreign_key(
            &right,
            fk,
            |l: &String, r: &String| format!("({l},{r})"),
            Materialized::as_("result").with_caching_disabled(),
        )
    };
    result.to_stream().to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    Ok(Fk {
        left: driver.input_topic("left", Serdes::string(), Serdes::nullable(Serdes::string())),
        right: driver.input_topic(
            "right",
            Serdes::string(),
            Serdes::nullable(Serdes::string()),
        ),
        out: driver.output_topic("out", Serdes::string(), Serdes::nullable(Serdes::string())),
        _driver: driver,
    })
}

impl Fk {
    fn left(&self, k: &str, v: Option<&str>) -> Result<()> {
        self.left.pipe_input(k.to_string(), v.map(String::from), 0)
    }
    fn right(&self, k: &str, v: Option<&str>) -> Result<()> {
        self.right.pipe_input(k.to_string(), v.map(String::from), 0)
    }
    fn step(&self) -> Result<Step> {
        self.out.read_key_values_to_map()
    }
}

fn step(entries: &[(&str, Option<&str>)]) -> Step {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(String::from)))
        .collect()
}

#[test]
fn join_from_left_then_delete_left_entity() -> Result<()> {
    for left_join in [false, true] {
        let fk = setup(left_join)?;
        fk.right("rhs1", Some("rhsValue1"))?;
        fk.right("rhs2", Some("rhsValue2"))?;
        fk.right("rhs3", Some("rhsValue3"))?;
        assert_eq!(fk.step()?, step(&[]));
        fk.left("lhs1", Some("lhsValue1|rhs1"))?;
        fk.left("lhs2", Some("lhsValue2|rhs2"))?;
        assert_eq!(
            fk.step()?,
            step(&[
                ("lhs1", Some("(lhsValue1|rhs1,rhsValue1)")),
                ("lhs2", Some("(lhsValue2|rhs2,rhsValue2)"))
            ])
        );
        fk.left("lhs3", Some("lhsValue3|rhs1"))?;
        assert_eq!(
            fk.step()?,
            step(&[("lhs3", Some("(lhsValue3|rhs1,rhsValue1)"))])
        );
        fk.left("lhs1", None)?;
        assert_eq!(fk.step()?, step(&[("lhs1", None)]));
        assert!(fk.out.is_empty());
    }
    Ok(())
}

#[test]
fn join_from_right_then_delete_right_entity() -> Result<()> {
    for left_join in [false, true] {
        let fk = setup(left_join)?;
        fk.left("lhs1", Some("lhsValue1|rhs1"))?;
        fk.left("lhs2", Some("lhsValue2|rhs2"))?;
        fk.left("lhs3", Some("lhsValue3|rhs1"))?;
        let expected = if left_join {
            step(&[
                ("lhs1", Some("(lhsValue1|rhs1,null)")),
                ("lhs2", Some("(lhsValue2|rhs2,null)")),
                ("lhs3", Some("(lhsValue3|rhs1,null)")),
            ])
        } else {
            step(&[])
        };
        assert_eq!(fk.step()?, expected);
        fk.right("rhs1", Some("rhsValue1"))?;
        assert_eq!(
            fk.step()?,
            step(&[
                ("lhs1", Some("(lhsValue1|rhs1,rhsValue1)")),
                ("lhs3", Some("(lhsValue3|rhs1,rhsValue1)"))
            ])
        );
        fk.right("rhs2", Some("rhsValue2"))?;
        assert_eq!(
            fk.step()?,
            step(&[("lhs2", Some("(lhsValue2|rhs2,rhsValue2)"))])
        );
        fk.right("rhs3", Some("rhsValue3"))?;
        assert_eq!(
            fk.step()?,
            step(&[]),
            "unreferenced right rows produce nothing"
        );
        fk.right("rhs1", None)?;
        let expected = if left_join {
            step(&[
                ("lhs1", Some("(lhsValue1|rhs1,null)")),
                ("lhs3", Some("(lhsValue3|rhs1,null)")),
            ])
        } else {
            step(&[("lhs1", None), ("lhs3", None)])
        };
        assert_eq!(fk.step()?, expected);
    }
    Ok(())
}

#[test]
fn changing_the_foreign_key_unsubscribes_the_old_one() -> Result<()> {
    for left_join in [false, true] {
        let fk = setup(left_join)?;
        fk.left("lhs1", Some("lhsValue1|rhs1"))?;
        let expected = if left_join {
            step(&[("lhs1", Some("(lhsValue1|rhs1,null)"))])
        } else {
            step(&[])
        };
        assert_eq!(fk.step()?, expected);
        fk.left("lhs1", Some("lhsValue1|rhs2"))?;
        let expected = if left_join {
            step(&[("lhs1", Some("(lhsValue1|rhs2,null)"))])
        } else {
            step(&[("lhs1", None)])
        };
        assert_eq!(fk.step()?, expected);
        fk.right("rhs1", Some("rhsValue1"))?;
        assert_eq!(fk.step()?, step(&[]), "rhs1 is no longer referenced");
        fk.left("lhs1", Some("lhsValue1|rhs1"))?;
        assert_eq!(
            fk.step()?,
            step(&[("lhs1", Some("(lhsValue1|rhs1,rhsValue1)"))])
        );
        fk.left("lhs1", Some("lhsValue1|rhs2"))?;
        let expected = if left_join {
            step(&[("lhs1", Some("(lhsValue1|rhs2,null)"))])
        } else {
            step(&[("lhs1", None)])
        };
        assert_eq!(fk.step()?, expected);
        fk.right("rhs1", Some("rhsValue1Delta"))?;
        assert_eq!(fk.step()?, step(&[]));
    }
    Ok(())
}

#[test]
fn deleting_rows_emits_one_tombstone_and_left_joins_keep_rows_without_a_foreign_key() -> Result<()>
{
    for left_join in [false, true] {
        let fk = setup(left_join)?;
        fk.left("lhs1", Some("lhsValue1|rhs1"))?;
        fk.step()?;
        fk.left("lhs1", None)?;
        let records = fk.out.read_records()?;
        assert_eq!(records.len(), 1, "exactly one tombstone");
        assert_eq!(records[0].value, None);
        fk.left("lhs1", None)?;
        assert!(fk.out.is_empty(), "deleting a missing row emits nothing");
    }
    let fk = setup(true)?;
    fk.left("lhs1", Some("lhsValue1|returnNull"))?;
    assert_eq!(
        fk.step()?,
        step(&[("lhs1", Some("(lhsValue1|returnNull,null)"))])
    );
    Ok(())
}

#[test]
fn an_unnamed_result_is_not_cached_so_every_result_goes_downstream() -> Result<()> {
    // Kafka Streams materializes a foreign-key join's result only when it is named: without a
    // name there is no record cache, and deleting a left row that never joined still sends a
    // tombstone (with caching on, the default).
    let builder = StreamsBuilder::new();
    let strings = || Consumed::with(Serdes::string(), Serdes::string());
    let left = builder.table("left", strings(), Materialized::default());
    let right = builder.table("right", strings(), Materialized::default());
    left.join_foreign_key(
        &right,
        |v: &String| v.get(..1).map(String::from),
        |l: &String, r: &String| format!("({l},{r})"),
        Materialized::default(),
    )
    .to_stream()
    .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let left = driver.input_topic("left", Serdes::string(), Serdes::nullable(Serdes::string()));
    left.pipe_input("a".into(), Some("x".into()), 0)?;
    left.pipe_input("a".into(), None, 1)?;
    let out = driver
        .output_topic("out", Serdes::string(), Serdes::nullable(Serdes::string()))
        .read_key_values()?;
    assert_eq!(out, vec![("a".to_string(), None)]);
    Ok(())
}

#[test]
fn a_deleted_left_row_is_stamped_with_the_later_of_its_time_and_the_right_rows() -> Result<()> {
    // Kafka's SubscriptionJoinProcessorSupplier stamps every answer, the delete too, with the
    // later of the subscription's and the right row's timestamps (differential oracle,
    // `fk_inner_join`: an out-of-order delete of the left row).
    let builder = StreamsBuilder::new();
    let strings = || Consumed::with(Serdes::string(), Serdes::string());
    let left = builder.table("left", strings(), Materialized::default());
    let right = builder.table("right", strings(), Materialized::default());
    left.join_foreign_key(
        &right,
        |v: &String| Some(v.clone()),
        |l: &String, r: &String| format!("({l},{r})"),
        Materialized::default(),
    )
    .to_stream()
    .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let nullable = || Serdes::nullable(Serdes::string());
    let left = driver.input_topic("left", Serdes::string(), nullable());
    let right = driver.input_topic("right", Serdes::string(), nullable());
    left.pipe_input("a".into(), Some("b".into()), 0)?;
    right.pipe_input("b".into(), Some("x".into()), 15)?;
    left.pipe_input("a".into(), None, 14)?;
    let out: Vec<_> = driver
        .output_topic("out", Serdes::string(), nullable())
        .read_records()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(
        out,
        vec![
            ("a".to_string(), Some("(b,x)".to_string()), 15),
            ("a".to_string(), None, 15)
        ]
    );
    Ok(())
}

#[test]
fn a_left_joins_deleted_row_is_stamped_with_the_deletes_own_time() -> Result<()> {
    // Kafka's left foreign-key join unsubscribes a deleted row silently and asks for its
    // tombstone without a foreign key, so the tombstone carries the delete's time even when
    // the right row is later (differential oracle, `fk_left_join`; the inner join's differs).
    let builder = StreamsBuilder::new();
    let strings = || Consumed::with(Serdes::string(), Serdes::string());
    let left = builder.table("left", strings(), Materialized::default());
    let right = builder.table("right", strings(), Materialized::default());
    left.left_join_foreign_key(
        &right,
        |v: &String| Some(v.clone()),
        |l: &String, r: Option<&String>| format!("({l},{})", r.map_or("null", |r| r.as_str())),
        Materialized::default(),
    )
    .to_stream()
    .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let nullable = || Serdes::nullable(Serdes::string());
    let left = driver.input_topic("left", Serdes::string(), nullable());
    let right = driver.input_topic("right", Serdes::string(), nullable());
    right.pipe_input("d".into(), Some("x".into()), 1)?;
    left.pipe_input("b".into(), Some("d".into()), 1)?;
    left.pipe_input("b".into(), None, 0)?;
    let out: Vec<_> = driver
        .output_topic("out", Serdes::string(), nullable())
        .read_records()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(
        out,
        vec![
            ("b".to_string(), Some("(d,x)".to_string()), 1),
            ("b".to_string(), None, 0)
        ]
    );
    Ok(())
}
