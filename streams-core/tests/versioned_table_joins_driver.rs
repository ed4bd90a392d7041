//! Table–table joins of versioned tables through the driver (KIP-914), with Kafka's
//! `AbstractJoinIntegrationTest` input (out-of-order updates on both sides), piped one record at
//! a time, with the output expected after each; each test names the Kafka test it ports.

mod versioned;

use versioned::*;

#[test]
fn inner_table_table_join_of_versioned_tables_ignores_out_of_order_updates() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testInnerWithVersionedStores
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, versioned("left"), versioned("right"));
    to_output(&l.join(&r, |a: &String, b: &String| format!("{a}-{b}")));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            n,
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((None, 7)),
            n,
            n,
            Some((Some("C-c"), 10)),
            Some((None, 11)),
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            n,
            n,
            n,
            n,
        ],
    )
}

#[test]
fn left_table_table_join_of_versioned_tables_ignores_out_of_order_updates() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testLeftWithVersionedStores
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, versioned("left"), versioned("right"));
    to_output(&l.left_join(&r, |a: &String, b: Option<&String>| {
        format!("{a}-{}", show(b))
    }));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            Some((Some("A-null"), 3)),
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((None, 7)),
            n,
            Some((Some("C-null"), 9)),
            Some((Some("C-c"), 10)),
            Some((Some("C-null"), 11)),
            Some((None, 12)),
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            n,
            n,
            n,
            n,
        ],
    )
}

#[test]
fn outer_table_table_join_of_versioned_tables_ignores_out_of_order_updates() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testOuterWithVersionedStores
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, versioned("left"), versioned("right"));
    to_output(&l.outer_join(&r, |a: Option<&String>, b: Option<&String>| {
        format!("{}-{}", show(a), show(b))
    }));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            Some((Some("A-null"), 3)),
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((Some("null-b"), 7)),
            Some((None, 8)),
            Some((Some("C-null"), 9)),
            Some((Some("C-c"), 10)),
            Some((Some("C-null"), 11)),
            Some((None, 12)),
            n,
            n,
            n,
            n,
            n,
            Some((Some("null-e"), 14)),
            Some((Some("E-e"), 15)),
            n,
            n,
            n,
            n,
        ],
    )
}

#[test]
fn inner_join_with_only_the_left_table_versioned() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testInnerWithLeftVersionedOnly (caching off)
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, versioned("left"), plain("right"));
    to_output(&l.join(&r, |a: &String, b: &String| format!("{a}-{b}")));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            n,
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((None, 7)),
            n,
            n,
            Some((Some("C-c"), 10)),
            Some((None, 11)),
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            n,
            Some((None, 15)),
            n,
            Some((Some("E-f"), 15)),
        ],
    )
}

#[test]
fn inner_join_with_only_the_right_table_versioned() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testInnerWithRightVersionedOnly (caching off)
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, plain("left"), versioned("right"));
    to_output(&l.join(&r, |a: &String, b: &String| format!("{a}-{b}")));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            n,
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((None, 7)),
            n,
            n,
            Some((Some("C-c"), 10)),
            Some((None, 11)),
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            Some((None, 14)),
            n,
            Some((Some("F-e"), 14)),
            n,
        ],
    )
}
