//! `topology.optimization` through the test driver: the same inputs give the same outputs and
//! stores with and without it, while the optimized topology writes fewer topics (no changelog
//! for the source table, one repartition topic per key change).

use std::collections::{BTreeMap, BTreeSet};

use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::serde::Serdes;
use streams_core::testing::TopologyTestDriver;
use streams_core::{Result, StreamsConfig, Topology};

type Records<V> = Vec<(String, V, i64)>;

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

/// Users (a source table), clicks joined with them, and clicks re-keyed by page: counted,
/// reduced, and counted again after a filter (three repartition topics, one when merged).
fn topology(optimization: &str) -> Result<Topology> {
    let builder = StreamsBuilder::new();
    let users = builder.table("users", strings(), Materialized::as_("users-store"));
    let clicks = builder.stream("clicks", strings());
    clicks
        .left_join_table(&users, |page: &String, name: Option<&String>| {
            format!("{page} by {}", name.map_or("nobody", String::as_str))
        })
        .to("enriched");
    let by_page = clicks.select_key(|_user, page: &String| page.clone());
    by_page
        .group_by_key()
        .count(Materialized::as_("page-views"))
        .to_stream()
        .to("page-views");
    by_page
        .group_by_key()
        .reduce(
            |older: String, newer: String| format!("{older},{newer}"),
            Materialized::as_("page-visitors"),
        )
        .to_stream()
        .to("page-visitors");
    by_page
        .filter(|_page, user: &String| user.ends_with('7'))
        .group_by_key()
        .count(Materialized::as_("page-views-by-sevens"))
        .to_stream()
        .to("page-views-by-sevens");
    let mut config = StreamsConfig::new();
    config.set("topology.optimization", optimization);
    builder.build_with(&config)
}

/// A reproducible stream of numbers (a 64-bit linear congruential generator).
struct Numbers(u64);

impl Numbers {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// What a run wrote to each output topic, and what its stores hold at the end.
#[derive(Debug, PartialEq)]
struct Run {
    enriched: Records<String>,
    page_views: Records<Option<u64>>,
    page_visitors: Records<Option<String>>,
    page_views_by_sevens: Records<Option<u64>>,
    users: BTreeMap<String, String>,
    counts: BTreeMap<String, u64>,
    topics: BTreeSet<String>,
}

fn run(optimization: &str, seed: u64, cache_bytes: &str) -> Result<Run> {
    let mut config = StreamsConfig::new();
    config
        .set("application.id", "optimized")
        .set("statestore.cache.max.bytes", cache_bytes);
    let driver = TopologyTestDriver::with_config(topology(optimization)?, &config)?;
    let users = driver.input_topic(
        "users",
        Serdes::string(),
        Serdes::nullable(Serdes::string()),
    );
    let clicks = driver.input_topic("clicks", Serdes::string(), Serdes::string());
    let mut numbers = Numbers(seed);
    let mut time = 0;
    for _ in 0..2_000 {
        time += numbers.next(1_000) as i64;
        let user = format!("user-{}", numbers.next(40));
        if numbers.next(4) == 0 {
            // A new name, or now and then a deletion.
            let name = (numbers.next(10) != 0).then(|| format!("name-{}", numbers.next(1_000)));
            users.pipe_input(user, name, time)?;
        } else {
            let page = format!("page-{}", numbers.next(12));
            clicks.pipe_input(user, page, time - numbers.next(500) as i64)?;
        }
    }
    let read = |topic: &str| -> Result<Records<Option<u64>>> {
        Ok(driver
            .output_topic(topic, Serdes::string(), Serdes::nullable(Serdes::u64()))
            .read_records()?
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect())
    };
    Ok(Run {
        enriched: driver
            .output_topic("enriched", Serdes::string(), Serdes::string())
            .read_records()?
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect(),
        page_views: read("page-views")?,
        page_visitors: driver
            .output_topic(
                "page-visitors",
                Serdes::string(),
                Serdes::nullable(Serdes::string()),
            )
            .read_records()?
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect(),
        page_views_by_sevens: read("page-views-by-sevens")?,
        users: driver
            .key_value_store::<String, String>("users-store")?
            .all()?
            .into_iter()
            .collect(),
        counts: driver
            .key_value_store::<String, u64>("page-views")?
            .all()?
            .into_iter()
            .collect(),
        topics: driver.produced_topic_names().into_iter().collect(),
    })
}

#[test]
fn optimized_and_plain_topologies_give_the_same_results() -> Result<()> {
    for seed in [1, 7, 42] {
        for cache in ["0", "10485760"] {
            let plain = run("none", seed, cache)?;
            let optimized = run("all", seed, cache)?;
            assert!(!plain.enriched.is_empty() && !plain.page_views_by_sevens.is_empty());
            assert_eq!(
                Run {
                    topics: BTreeSet::new(),
                    ..optimized
                },
                Run {
                    topics: BTreeSet::new(),
                    ..plain
                },
                "seed {seed}, cache {cache}"
            );
        }
    }
    let written = |optimization| -> Result<BTreeSet<String>> {
        Ok(run(optimization, 1, "0")?
            .topics
            .into_iter()
            .filter(|t| t.starts_with("optimized-"))
            .collect())
    };
    let internal = |names: &[&str]| -> BTreeSet<String> {
        names.iter().map(|n| format!("optimized-{n}")).collect()
    };
    assert_eq!(
        written("none")?,
        internal(&[
            "page-views-by-sevens-changelog",
            "page-views-by-sevens-repartition",
            "page-views-changelog",
            "page-views-repartition",
            "page-visitors-changelog",
            "page-visitors-repartition",
            "users-store-changelog",
        ])
    );
    assert_eq!(
        written("all")?,
        internal(&[
            "page-views-by-sevens-changelog",
            "page-views-changelog",
            "page-views-repartition",
            "page-visitors-changelog",
        ])
    );
    Ok(())
}

/// A join with a global table between the key change and one of its topics: Kafka Streams
/// does not count it as changing values, so the topic after it is merged too. Here it changes
/// the values' type (to u64): the merged topic is the first one carrying the key change's own
/// types (where Kafka Streams would take the first topic's name and serdes); the join moves
/// after it.
fn global_join_between(optimization: &str) -> Result<Topology> {
    let builder = StreamsBuilder::new();
    let hosts = builder.global_table("page-hosts", strings(), Materialized::as_("page-hosts"));
    let by_page = builder
        .stream("clicks", strings())
        .select_key(|_user, page: &String| page.clone());
    by_page
        .join_global(
            &hosts,
            |page, _value: &String| page.clone(),
            |page: &String, host: &String| (page.len() + host.len()) as u64,
        )
        .group_by_key()
        .reduce(
            |total: u64, more: u64| total + more,
            Materialized::as_("host-name-lengths"),
        )
        .to_stream()
        .to("host-name-lengths");
    by_page
        .group_by_key()
        .count(Materialized::as_("page-views"))
        .to_stream()
        .to("page-views");
    let mut config = StreamsConfig::new();
    config.set("topology.optimization", optimization);
    builder.build_with(&config)
}

#[test]
fn a_topic_after_a_global_table_join_is_merged_into_one_of_the_key_changes_types() -> Result<()> {
    let optimized = global_join_between("all")?.describe().to_string();
    assert!(
        optimized.contains("(topic: page-views-repartition)")
            && !optimized.contains("host-name-lengths-repartition"),
        "{optimized}"
    );
    let results = |optimization: &str| -> Result<(Records<Option<u64>>, Records<Option<u64>>)> {
        let driver = TopologyTestDriver::new(global_join_between(optimization)?)?;
        let hosts = driver.input_topic("page-hosts", Serdes::string(), Serdes::string());
        let clicks = driver.input_topic("clicks", Serdes::string(), Serdes::string());
        let mut numbers = Numbers(3);
        for i in 0..300 {
            let user = format!("user-{}", numbers.next(20));
            if numbers.next(5) == 0 {
                let page = format!("page-{}", numbers.next(6));
                hosts.pipe_input(page, format!("host-{}", numbers.next(50)), i)?;
            } else {
                clicks.pipe_input(user, format!("page-{}", numbers.next(6)), i)?;
            }
        }
        Ok((
            driver
                .output_topic(
                    "host-name-lengths",
                    Serdes::string(),
                    Serdes::nullable(Serdes::u64()),
                )
                .read_records()?
                .into_iter()
                .map(|r| (r.key, r.value, r.timestamp))
                .collect(),
            driver
                .output_topic(
                    "page-views",
                    Serdes::string(),
                    Serdes::nullable(Serdes::u64()),
                )
                .read_records()?
                .into_iter()
                .map(|r| (r.key, r.value, r.timestamp))
                .collect(),
        ))
    };
    let plain = results("none")?;
    assert!(!plain.0.is_empty() && !plain.1.is_empty());
    assert_eq!(results("all")?, plain);
    Ok(())
}

/// A re-keyed stream joined with a filtered copy of itself (both sides repartitioned after
/// the same key change: one topic when merged) and counted.
fn self_join(optimization: &str) -> Result<Topology> {
    let builder = StreamsBuilder::new();
    let by_page = builder
        .stream("clicks", strings())
        .select_key(|_user, page: &String| page.clone());
    let evens = by_page.filter(|_page, user: &String| user.ends_with(['0', '2', '4', '6', '8']));
    by_page
        .left_join(
            &evens,
            |user: &String, even: Option<&String>| format!("{user}+{}", even.map_or("-", |e| e)),
            streams_core::dsl::JoinWindows::of_time_difference_and_grace(
                std::time::Duration::from_millis(50),
                std::time::Duration::from_millis(20),
            ),
            streams_core::dsl::StreamJoined::with(
                Serdes::string(),
                Serdes::string(),
                Serdes::string(),
            )
            .with_store_name("pairs"),
        )
        .to("pairs");
    by_page
        .group_by_key()
        .count(Materialized::as_("page-views"))
        .to_stream()
        .to("page-views");
    let mut config = StreamsConfig::new();
    config.set("topology.optimization", optimization);
    builder.build_with(&config)
}

#[test]
fn a_stream_joined_with_itself_after_a_key_change_reads_one_merged_topic() -> Result<()> {
    let repartition_topics = |topology: &Topology| {
        let text = topology.describe().to_string();
        text.lines()
            .filter(|l| l.trim_start().starts_with("Sink:") && l.contains("-repartition)"))
            .count()
    };
    assert_eq!(repartition_topics(&self_join("none")?), 3);
    assert_eq!(repartition_topics(&self_join("all")?), 1);
    let results = |optimization: &str| -> Result<(Records<String>, Records<Option<u64>>)> {
        let driver = TopologyTestDriver::new(self_join(optimization)?)?;
        let clicks = driver.input_topic("clicks", Serdes::string(), Serdes::string());
        let mut numbers = Numbers(11);
        let mut time = 0;
        for _ in 0..400 {
            time += numbers.next(30) as i64;
            let user = format!("user-{}", numbers.next(30));
            clicks.pipe_input(user, format!("page-{}", numbers.next(8)), time)?;
        }
        Ok((
            driver
                .output_topic("pairs", Serdes::string(), Serdes::string())
                .read_records()?
                .into_iter()
                .map(|r| (r.key, r.value, r.timestamp))
                .collect(),
            driver
                .output_topic(
                    "page-views",
                    Serdes::string(),
                    Serdes::nullable(Serdes::u64()),
                )
                .read_records()?
                .into_iter()
                .map(|r| (r.key, r.value, r.timestamp))
                .collect(),
        ))
    };
    let plain = results("none")?;
    assert!(plain.0.iter().any(|(_, v, _)| !v.ends_with("+-")));
    assert_eq!(results("all")?, plain);
    Ok(())
}
