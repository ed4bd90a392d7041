//! Joining a [`KStream`]: with another stream within join windows, with a table's row (as of
//! the record's time, for a versioned table), or with a global table's row. Each method orients
//! the user's joiner and calls the join's lowering, beside its processors in `dsl::ops`.

use std::sync::Arc;

use super::KStream;
use crate::dsl::ops::{stream_global_join, stream_stream_join, stream_table_join};
use crate::dsl::{GlobalKTable, JoinWindows, Joined, KTable, StreamJoined};

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Joins with records of `other` with the same key within `windows`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, JoinWindows, StreamJoined, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let logins = builder.stream("logins", Consumed::with(Serdes::string(), Serdes::string()));
    /// let payments = builder.stream("payments", Consumed::with(Serdes::string(), Serdes::i64()));
    /// payments
    ///     .join(&logins, |cents: &i64, ip: &String| format!("{cents} from {ip}"),
    ///           JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)), StreamJoined::default())
    ///     .to("payments-with-login");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        stream_stream_join::lower(
            self,
            other,
            windows,
            joined,
            (false, false),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l?, r?))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l?, r?))),
        )
    }

    /// Like [`join`](Self::join), but every record of this stream produces a result: records
    /// that find no match are joined with `None` once their window closes (window end plus
    /// grace), not before.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, JoinWindows, StreamJoined, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream("orders", Consumed::with(Serdes::string(), Serdes::string()));
    /// let shipments = builder.stream("shipments", Consumed::with(Serdes::string(), Serdes::string()));
    /// orders
    ///     .left_join(&shipments, |order: &String, shipment: Option<&String>| format!("{order}: {}", shipment.is_some()),
    ///                JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(3600)), StreamJoined::default())
    ///     .to("order-status");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        stream_stream_join::lower(
            self,
            other,
            windows,
            joined,
            (true, false),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l?, r))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l?, r))),
        )
    }

    /// Like [`join`](Self::join), but records of either side that find no match produce a
    /// result with `None` for the other side once their window closes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, JoinWindows, StreamJoined, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let a = builder.stream("a", Consumed::with(Serdes::string(), Serdes::string()));
    /// let b = builder.stream("b", Consumed::with(Serdes::string(), Serdes::string()));
    /// a.outer_join(&b, |x: Option<&String>, y: Option<&String>| format!("{x:?}/{y:?}"),
    ///              JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(5)), StreamJoined::default())
    ///  .to("pairs");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn outer_join<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        stream_stream_join::lower(
            self,
            other,
            windows,
            joined,
            (true, true),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l, r))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l, r))),
        )
    }

    /// Joins each record with the table's current row for its key; records without a row
    /// are dropped. Table updates do not produce results.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_("users"));
    /// builder
    ///     .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .join_table(&users, |page: &String, name: &String| format!("{name} opened {page}"))
    ///     .to("named-clicks");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join_table<VT, VR, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VT) -> VR + Send + Sync + 'static,
    {
        self.join_table_with(table, joiner, Joined::default())
    }

    /// [`join_table`](Self::join_table) with serdes, a name and a grace period
    /// ([`Joined`]). A versioned table (see
    /// [`Materialized::as_versioned`](crate::dsl::Materialized::as_versioned)) is looked up as
    /// of each record's timestamp, with or without a grace period; with one, records wait
    /// until stream time passes their timestamp plus the grace, so that table updates up to
    /// that late still meet them, and join in timestamp order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Joined, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let prices = builder.table(
    ///     "prices",
    ///     Consumed::with(Serdes::string(), Serdes::i64()),
    ///     Materialized::as_versioned("prices", Duration::from_secs(600)),
    /// );
    /// builder
    ///     .stream("orders", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .join_table_with(
    ///         &prices,
    ///         |quantity: &i64, price: &i64| quantity * price,
    ///         Joined::as_("order-totals").with_grace_period(Duration::from_secs(5)),
    ///     )
    ///     .to("order-totals");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join_table_with<VT, VR, F>(
        &self,
        table: &KTable<K, VT>,
        joiner: F,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VT) -> VR + Send + Sync + 'static,
    {
        stream_table_join::lower(
            self,
            table,
            false,
            Arc::new(move |v: &V, t: Option<&VT>| Some(joiner(v, t?))),
            joined,
        )
    }

    /// Joins each record with the table's current row for its key, or `None` if there is
    /// none.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let limits = builder.table("limits", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::default());
    /// builder
    ///     .stream("payments", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .left_join_table(&limits, |cents: &i64, limit: Option<&i64>| limit.is_some_and(|l| cents > l))
    ///     .filter(|_k, over: &bool| *over)
    ///     .map_values(|_| "over limit".to_string())
    ///     .to("over-limit");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join_table<VT, VR, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    {
        self.left_join_table_with(table, joiner, Joined::default())
    }

    /// [`left_join_table`](Self::left_join_table) with serdes, a name and a grace period (see
    /// [`join_table_with`](Self::join_table_with)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Joined, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let tiers = builder.table(
    ///     "tiers",
    ///     Consumed::with(Serdes::string(), Serdes::string()),
    ///     Materialized::as_versioned("tiers", Duration::from_secs(3600)),
    /// );
    /// builder
    ///     .stream("logins", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .left_join_table_with(
    ///         &tiers,
    ///         |ip: &String, tier: Option<&String>| format!("{ip} {}", tier.map_or("free", |t| t)),
    ///         Joined::default().with_grace_period(Duration::from_secs(10)),
    ///     )
    ///     .to("logins-with-tier");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join_table_with<VT, VR, F>(
        &self,
        table: &KTable<K, VT>,
        joiner: F,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    {
        stream_table_join::lower(
            self,
            table,
            true,
            Arc::new(move |v: &V, t: Option<&VT>| Some(joiner(v, t))),
            joined,
        )
    }

    /// Joins each record with the global table's row for `key_mapper(key, value)`; records
    /// without a row are dropped. No co-partitioning needed: the whole table is local.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let countries = builder.global_table("countries", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// builder
    ///     .stream("payments", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .join_global(&countries, |_id, country_code: &String| country_code.clone(), |code: &String, name: &String| format!("{code}: {name}"))
    ///     .to("payments-by-country");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join_global<KG, VG, VR, M, F>(
        &self,
        table: &GlobalKTable<KG, VG>,
        key_mapper: M,
        joiner: F,
    ) -> KStream<K, VR>
    where
        KG: 'static,
        VG: 'static,
        VR: Clone + 'static,
        M: Fn(&K, &V) -> KG + Send + Sync + 'static,
        F: Fn(&V, &VG) -> VR + Send + Sync + 'static,
    {
        stream_global_join::lower(
            self,
            table,
            false,
            Arc::new(key_mapper),
            Arc::new(move |v: &V, g: Option<&VG>| Some(joiner(v, g?))),
        )
    }

    /// Joins each record with the global table's row for `key_mapper(key, value)`, or `None`.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let blocked = builder.global_table("blocked-ips", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// builder
    ///     .stream("logins", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .left_join_global(&blocked, |_user, ip: &String| ip.clone(), |ip: &String, reason: Option<&String>| (ip.clone(), reason.is_some()))
    ///     .filter(|_user, (_ip, blocked): &(String, bool)| *blocked)
    ///     .foreach(|user: &String, _v: &(String, bool)| println!("blocked login by {user}"));
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join_global<KG, VG, VR, M, F>(
        &self,
        table: &GlobalKTable<KG, VG>,
        key_mapper: M,
        joiner: F,
    ) -> KStream<K, VR>
    where
        KG: 'static,
        VG: 'static,
        VR: Clone + 'static,
        M: Fn(&K, &V) -> KG + Send + Sync + 'static,
        F: Fn(&V, Option<&VG>) -> VR + Send + Sync + 'static,
    {
        stream_global_join::lower(
            self,
            table,
            true,
            Arc::new(key_mapper),
            Arc::new(move |v: &V, g: Option<&VG>| Some(joiner(v, g))),
        )
    }
}
