//! Lowering of a stream–stream join: the two side processors, their window stores, the shared
//! outer store of left and outer joins, and the merge node after them.

use super::tracker::TimeTrackers;
use super::{JoinSide, Side, SideJoiner, StreamStreamJoin};
use crate::dsl::ops::branch::PassThrough;
use crate::dsl::repartition::repartition_if_required;
use crate::dsl::{JoinWindows, KStream, StreamJoined};
use crate::state::StoreBuilder;

/// Lowers a stream–stream join of `stream` with `other` (`KStream::join`, `left_join`,
/// `outer_join`): each side's join processor reads its side (through a repartition topic if
/// its key may have changed); both use the two window stores and, for left and outer joins,
/// the shared outer store; a merge node after them is the result stream.
pub(crate) fn lower<K, V, VO, VR>(
    stream: &KStream<K, V>,
    other: &KStream<K, VO>,
    windows: JoinWindows,
    joined: StreamJoined<K, V, VO>,
    (left_outer, right_outer): (bool, bool),
    left_joiner: SideJoiner<V, VO, VR>,
    right_joiner: SideJoiner<VO, V, VR>,
) -> KStream<K, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VO: Clone + 'static,
    VR: Clone + 'static,
{
    let state = &stream.state;
    let broken = || KStream::new(stream.state.clone(), stream.node.clone(), None, None, true);
    state.borrow_mut().record(windows.validate());
    let (this_name, other_name) = {
        let mut st = state.borrow_mut();
        let this = st.new_name(if left_outer {
            "KSTREAM-OUTERTHIS"
        } else {
            "KSTREAM-JOINTHIS"
        });
        let other = st.new_name(if right_outer {
            "KSTREAM-OUTEROTHER"
        } else {
            "KSTREAM-JOINOTHER"
        });
        (this, other)
    };
    let base = joined
        .store_name
        .clone()
        .unwrap_or_else(|| this_name.clone());
    let what = format!("stream-stream join `{base}`");
    let (key_serde, left_serde, right_serde) = {
        let mut st = state.borrow_mut();
        (
            st.require_serde(
                joined
                    .key_serde
                    .clone()
                    .or_else(|| stream.key_serde.clone())
                    .or_else(|| other.key_serde.clone()),
                &what,
            ),
            st.require_serde(
                joined
                    .value_serde
                    .clone()
                    .or_else(|| stream.value_serde.clone()),
                &what,
            ),
            st.require_serde(
                joined
                    .other_value_serde
                    .clone()
                    .or_else(|| other.value_serde.clone()),
                &what,
            ),
        )
    };
    let (Some(key_serde), Some(left_serde), Some(right_serde)) =
        (key_serde, left_serde, right_serde)
    else {
        return broken();
    };
    let Some(left_parent) = repartition_if_required(
        state,
        &stream.node,
        stream.repartition_required,
        &format!("{base}-left"),
        key_serde.clone(),
        Some(left_serde.clone()),
    ) else {
        return broken();
    };
    let Some(right_parent) = repartition_if_required(
        state,
        &other.node,
        other.repartition_required,
        &format!("{base}-right"),
        key_serde.clone(),
        Some(right_serde.clone()),
    ) else {
        return broken();
    };
    let (left_store, right_store) = match &joined.store_name {
        Some(name) => (
            format!("{name}-this-join-store"),
            format!("{name}-other-join-store"),
        ),
        None => (format!("{this_name}-store"), format!("{other_name}-store")),
    };
    let outer_store = (left_outer || right_outer).then(|| match &joined.store_name {
        Some(name) => format!("{name}-outer-shared-join-store"),
        None => format!(
            "{}-store",
            this_name.replace("KSTREAM-OUTERTHIS", "KSTREAM-OUTERSHARED")
        ),
    });
    let retention = std::time::Duration::from_millis(
        u64::try_from(
            windows
                .before
                .saturating_add(windows.after)
                .saturating_add(windows.grace),
        )
        .unwrap_or(0),
    );
    let trackers = TimeTrackers::default();
    let left_spec = JoinSide {
        side: Side::Left,
        this_store: left_store.clone(),
        other_store: right_store.clone(),
        outer_store: outer_store.clone(),
        this_outer: left_outer,
        before: windows.before,
        after: windows.after,
        grace: windows.grace,
        joiner: left_joiner,
        key_serde: key_serde.clone(),
        this_serde: left_serde.clone(),
        other_serde: right_serde.clone(),
        trackers: trackers.clone(),
    };
    let right_spec = JoinSide {
        side: Side::Right,
        this_store: right_store.clone(),
        other_store: left_store.clone(),
        outer_store: outer_store.clone(),
        this_outer: right_outer,
        before: windows.after,
        after: windows.before,
        grace: windows.grace,
        joiner: right_joiner,
        key_serde: key_serde.clone(),
        this_serde: right_serde.clone(),
        other_serde: left_serde.clone(),
        trackers,
    };
    let mut st = state.borrow_mut();
    st.add_processor(
        &this_name,
        move || StreamStreamJoin::new(left_spec.clone()),
        &left_parent,
    );
    st.add_processor(
        &other_name,
        move || StreamStreamJoin::new(right_spec.clone()),
        &right_parent,
    );
    let nodes = [this_name.as_str(), other_name.as_str()];
    st.add_store_for(
        StoreBuilder::window(left_store, retention, true, key_serde.clone(), left_serde),
        &nodes,
    );
    st.add_store_for(
        StoreBuilder::window(right_store, retention, true, key_serde.clone(), right_serde),
        &nodes,
    );
    if let Some(outer) = outer_store {
        st.add_store_for(
            StoreBuilder::key_value(
                outer,
                crate::serde::Serdes::bytes(),
                crate::serde::Serdes::bytes(),
            ),
            &nodes,
        );
    }
    st.mark_copartitioned(&this_name);
    let merge = st.new_name("KSTREAM-MERGE");
    st.add_processor_with_parents(&merge, PassThrough::<K, VR>::new, &nodes);
    drop(st);
    KStream::new(stream.state.clone(), merge, Some(key_serde), None, false)
}
