//! Joining a [`KTable`]: with another table by primary key, or by a foreign key its rows name.
//! Each method orients the user's joiner and calls the join's lowering, beside its processors
//! in `dsl::ops`.

use std::sync::Arc;

use super::KTable;
use crate::dsl::Materialized;
use crate::dsl::ops::fk_join;
use crate::dsl::ops::table_table_join::{self, SideKind};

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    /// Joins rows with the same key in both tables; the result has a row while both do.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table("names", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// let emails = builder.table("emails", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// names.join(&emails, |name: &String, email: &String| format!("{name} <{email}>")).to_stream().to("contacts");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        table_table_join::lower(
            self,
            other,
            (SideKind::Inner, SideKind::Inner),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l?, r?))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l?, r?))),
        )
    }

    /// Joins every row of this table with the other table's row for the key, or `None`.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// let vip = builder.table("vip", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// users.left_join(&vip, |name: &String, tier: Option<&String>| format!("{name}:{}", tier.map_or("none", |t| t)))
    ///      .to_stream().to("user-tiers");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        table_table_join::lower(
            self,
            other,
            (SideKind::Preserved, SideKind::NeedsOther),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| l.map(|l| a(l, r))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| l.map(|l| b(l, r))),
        )
    }

    /// Joins rows of either table with the other's row for the key, or `None`; the result
    /// has a row while either does.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let a = builder.table("a", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::default());
    /// let b = builder.table("b", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::default());
    /// a.outer_join(&b, |x: Option<&i64>, y: Option<&i64>| x.unwrap_or(&0) + y.unwrap_or(&0)).to_stream().to("sums");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn outer_join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        table_table_join::lower(
            self,
            other,
            (SideKind::Preserved, SideKind::Preserved),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l, r))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l, r))),
        )
    }

    /// Joins each row with the other table's row whose key `foreign_key(value)` names: rows
    /// without one (or whose foreign row is missing) have no result. Works across partitions:
    /// the two tables need not be co-partitioned.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// // orders: order id -> "customer-id|item"; customers: customer id -> name
    /// let orders = builder.table("orders", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// let customers = builder.table("customers", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// orders
    ///     .join_foreign_key(
    ///         &customers,
    ///         |order: &String| order.split('|').next().map(String::from),
    ///         |order: &String, name: &String| format!("{order} for {name}"),
    ///         Materialized::as_("orders-with-customers"),
    ///     )
    ///     .to_stream()
    ///     .to("enriched-orders");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join_foreign_key<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> Option<KO> + Send + Sync + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        fk_join::lower(
            self,
            other,
            Arc::new(foreign_key),
            Arc::new(move |v: &V, o: Option<&VO>| Some(joiner(v, o?))),
            false,
            materialized,
        )
    }

    /// Like [`join_foreign_key`](Self::join_foreign_key), but every row has a result, with
    /// `None` when the foreign row is missing or the row names none.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.table("orders", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// let customers = builder.table("customers", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// orders
    ///     .left_join_foreign_key(
    ///         &customers,
    ///         |order: &String| order.split('|').next().map(String::from),
    ///         |order: &String, name: Option<&String>| format!("{order} for {}", name.map_or("?", |n| n.as_str())),
    ///         Materialized::as_("orders-maybe-with-customers"),
    ///     )
    ///     .to_stream()
    ///     .to("enriched-orders");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join_foreign_key<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> Option<KO> + Send + Sync + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        fk_join::lower(
            self,
            other,
            Arc::new(foreign_key),
            Arc::new(move |v: &V, o: Option<&VO>| Some(joiner(v, o))),
            true,
            materialized,
        )
    }
}
