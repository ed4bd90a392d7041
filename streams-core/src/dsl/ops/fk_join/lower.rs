//! Lowering a foreign-key join onto the topology (`KTable::join_foreign_key`,
//! `left_join_foreign_key`): the left table's subscription sender and the subscription
//! topic; its receiver beside the right table's store, and the right table's change
//! processor, both answering through the response topic; the left side's response join and
//! the materialized result.

use std::sync::Arc;

use super::{
    ForeignTableJoin, Response, ResponseJoin, ResponseSerde, Subscription, SubscriptionReceive,
    SubscriptionSend, SubscriptionSerde,
};
use crate::dsl::ops::table_source::TableMaterialize;
use crate::dsl::{KTable, Materialized};
use crate::serde::{Nullable, SharedSerde};
use crate::state::StoreBuilder;

/// Lowers a foreign-key join of `table` with `other`: `extractor` names each left row's
/// foreign key, `joiner` gives the result (`None`: no row), `left_join` keeps left rows
/// without a foreign row.
pub(crate) fn lower<K, V, KO, VO, VR>(
    table: &KTable<K, V>,
    other: &KTable<KO, VO>,
    extractor: Arc<dyn Fn(&V) -> Option<KO> + Send + Sync>,
    joiner: Arc<dyn Fn(&V, Option<&VO>) -> Option<VR> + Send + Sync>,
    left_join: bool,
    materialized: Materialized<K, VR>,
) -> KTable<K, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    KO: Clone + 'static,
    VO: Clone + 'static,
    VR: Clone + 'static,
{
    let broken = || KTable::new(table.state.clone(), table.node.clone(), None, None, None);
    // Both sides need old values, as in Kafka's doJoinOnForeignKey: the left one to
    // unsubscribe an old foreign key, the right one to skip unchanged rows.
    table.enable_sending_old_values();
    other.enable_sending_old_values();
    let (Some(this), Some(that)) = (table.ensure_materialized(), other.ensure_materialized())
    else {
        return broken();
    };
    let (Some(left_store), Some(right_store)) = (this.store.clone(), that.store.clone()) else {
        return broken();
    };
    let mut st = table.state.borrow_mut();
    let registration = st.new_name("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION");
    let response = st.new_name("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE");
    let what = format!("foreign-key join `{registration}`");
    let serdes = (
        st.require_serde(table.key_serde.clone(), &what),
        st.require_serde(table.value_serde.clone(), &what),
        st.require_serde(other.key_serde.clone(), &what),
        st.require_serde(other.value_serde.clone(), &what),
    );
    let (Some(key_serde), Some(value_serde), Some(fk_serde), Some(foreign_serde)) = serdes else {
        drop(st);
        return broken();
    };
    let registration_topic = format!("{registration}-topic");
    let response_topic = format!("{response}-topic");
    let subscription_store = format!("{registration}-STATE-STORE");
    let nullable_fk: SharedSerde<Option<KO>> = Arc::new(Nullable::new(fk_serde.clone()));
    let subscription_serde: SharedSerde<Subscription> = Arc::new(SubscriptionSerde);
    let response_serde: SharedSerde<Response<VO>> = Arc::new(ResponseSerde {
        inner: foreign_serde,
    });

    // Left side: subscribe.
    let (left_versioned, right_versioned) = (this.is_versioned(), that.is_versioned());
    let send = format!("{registration}-SEND");
    let (ks, vs, fs) = (key_serde.clone(), value_serde.clone(), fk_serde.clone());
    st.add_processor(
        &send,
        move || SubscriptionSend {
            extractor: extractor.clone(),
            key_serde: ks.clone(),
            value_serde: vs.clone(),
            fk_serde: fs.clone(),
            left_join,
            versioned: left_versioned,
        },
        &this.node,
    );
    st.add_internal_topic(&registration_topic);
    st.add_sink(
        &format!("{registration}-SINK"),
        &registration_topic,
        nullable_fk.clone(),
        subscription_serde.clone(),
        &send,
    );

    // Right side: record subscriptions and answer them; answer again on right updates.
    let receive_source = format!("{registration}-SOURCE");
    st.add_source(
        &receive_source,
        &registration_topic,
        nullable_fk,
        subscription_serde,
    );
    let receive = format!("{registration}-RECEIVE");
    let (subs, rs, fs) = (
        subscription_store.clone(),
        right_store.clone(),
        fk_serde.clone(),
    );
    st.add_processor(
        &receive,
        move || SubscriptionReceive::<KO, VO> {
            subscriptions: subs.clone(),
            right_store: rs.clone(),
            fk_serde: fs.clone(),
            subs: None,
            right: None,
        },
        &receive_source,
    );
    let foreign = format!("{response}-FOREIGN");
    let (subs, fs) = (subscription_store.clone(), fk_serde.clone());
    st.add_processor(
        &foreign,
        move || ForeignTableJoin::<KO, VO> {
            subscriptions: subs.clone(),
            fk_serde: fs.clone(),
            subs: None,
            versioned: right_versioned,
            _types: std::marker::PhantomData,
        },
        &that.node,
    );
    st.add_store_for(
        StoreBuilder::key_value(
            subscription_store,
            crate::serde::Serdes::bytes(),
            crate::serde::Serdes::bytes(),
        ),
        &[&receive, &foreign],
    );
    st.connect_store(&receive, &right_store);
    st.add_internal_topic(&response_topic);
    let result = st
        .topology_mut()
        .add_partitioned_sink(
            &format!("{response}-SINK"),
            &response_topic,
            crate::serde::Serdes::bytes(),
            response_serde.clone(),
            Arc::new(|_k: &Vec<u8>, r: &Response<VO>| Some(r.partition)),
            &[&receive, &foreign],
        )
        .map(|_| ());
    st.record(result);
    st.mark_copartitioned(&receive);

    // Left side: join answers that still match the current row.
    let response_source = format!("{response}-SOURCE");
    st.add_source(
        &response_source,
        &response_topic,
        key_serde.clone(),
        response_serde,
    );
    let join = format!("{response}-JOIN");
    let (ls, vs) = (left_store.clone(), value_serde);
    st.add_processor(
        &join,
        move || ResponseJoin::<K, V, VO, VR> {
            left_store: ls.clone(),
            value_serde: vs.clone(),
            joiner: joiner.clone(),
            left_join,
            left: None,
        },
        &response_source,
    );
    st.connect_store(&join, &left_store);
    st.mark_copartitioned(&join);
    let output = st.new_name("KTABLE-FK-JOIN-OUTPUT");
    // Kafka Streams materializes the result only when asked to (a named `Materialized`), so an
    // unnamed result has no record cache there: every result, also a tombstone for a key that
    // never had one, goes downstream. Our result always has a store (downstream operators read
    // it); without a name it is not cached, so the output is Kafka's.
    let materialized = if materialized.name.is_none() {
        materialized.with_caching_disabled()
    } else {
        materialized
    };
    let store = materialized
        .name
        .clone()
        .unwrap_or_else(|| format!("{output}-STATE-STORE"));
    let out_serde = st.require_serde(
        materialized.value_serde.clone(),
        &format!("result of {what}"),
    );
    let Some(out_serde) = out_serde else {
        drop(st);
        return broken();
    };
    let (store_name, ks) = (store.clone(), key_serde.clone());
    st.add_processor(
        &output,
        move || TableMaterialize::<K, Option<VR>, VR>::new(store_name.clone(), ks.clone()),
        &join,
    );
    st.add_store(
        materialized.table_store_builder(store.clone(), key_serde.clone(), out_serde.clone()),
        &output,
    );
    drop(st);
    KTable::new(
        table.state.clone(),
        output,
        Some(key_serde),
        Some(out_serde),
        Some(store),
    )
    .with_versioned(materialized.versioned_spec())
}
