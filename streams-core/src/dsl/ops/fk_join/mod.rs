//! Foreign-key table–table joins, following Kafka Streams' subscription/response protocol.
//!
//! The left table (keyed by `K`) subscribes each row to the right-table key its foreign key
//! extractor names, through a subscription topic partitioned like the right table; the right
//! side keeps subscriptions in a store keyed `fk | pk`, answers each subscription, and on every
//! right-row change answers all its subscribers, through a response topic sent back to the
//! left row's partition. The left side joins a response only if its hash still matches the
//! current left row (older responses for replaced rows are dropped as stale).
//!
//! Instructions follow Kafka Streams after KAFKA-16407/16434/16394: a change of foreign key
//! unsubscribes the old one silently, so left joins emit no intermediate `(v, None)`, and a
//! delete emits one tombstone.
//!
//! [`lower`] adds the join's processors, topics and stores to the topology.

mod lower;

use std::marker::PhantomData;
use std::sync::Arc;

use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Headers, Processor, ProcessorContext, Record};
use crate::serde::{Serde, SerdeError, SharedSerde};
use crate::state::{KeyValueStoreHandle, TableStore};
use crate::{Error, Result};

pub(crate) use lower::lower;

/// FNV-1a, 64 bits: a stable hash of a serialized left value (the value must stay the same
/// across versions of this library, since hashes travel through topics).
pub(crate) fn value_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the right side should do with a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instruction {
    /// Unsubscribe; no response.
    DeleteKeyNoPropagate = 0,
    /// Unsubscribe and answer with no right value (the left row is gone: a tombstone).
    DeleteKeyAndPropagate = 1,
    /// Subscribe and answer with the right value, or none if absent.
    PropagateNullIfNoFkValAvailable = 2,
    /// Subscribe and answer only if the right value exists.
    PropagateOnlyIfFkValAvailable = 3,
}

impl Instruction {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Instruction::DeleteKeyNoPropagate,
            1 => Instruction::DeleteKeyAndPropagate,
            2 => Instruction::PropagateNullIfNoFkValAvailable,
            3 => Instruction::PropagateOnlyIfFkValAvailable,
            _ => return None,
        })
    }
}

/// A subscription message: instruction, hash of the left value (if any), the left key's bytes
/// and the left record's partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) instruction: Instruction,
    pub(crate) hash: Option<u64>,
    pub(crate) pk: Vec<u8>,
    pub(crate) partition: i32,
}

/// `instruction(1) | has_hash(1) | hash(8) | partition(4) | pk`.
pub(crate) struct SubscriptionSerde;

impl Serde<Subscription> for SubscriptionSerde {
    fn serialize(&self, s: &Subscription, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.push(s.instruction as u8);
        out.push(u8::from(s.hash.is_some()));
        out.extend_from_slice(&s.hash.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&s.partition.to_be_bytes());
        out.extend_from_slice(&s.pk);
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Subscription, SerdeError> {
        let bad = || SerdeError::deserialize::<Subscription>("malformed subscription");
        if bytes.len() < 14 {
            return Err(bad());
        }
        let instruction = Instruction::from_byte(bytes[0]).ok_or_else(bad)?;
        let hash = (bytes[1] == 1)
            .then(|| u64::from_be_bytes(bytes[2..10].try_into().unwrap_or_default()));
        let partition = i32::from_be_bytes(bytes[10..14].try_into().map_err(|_| bad())?);
        Ok(Subscription {
            instruction,
            hash,
            pk: bytes[14..].to_vec(),
            partition,
        })
    }
}

/// A response: the hash it answers, the right value (if any), and the partition to go to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response<VO> {
    pub(crate) hash: Option<u64>,
    pub(crate) foreign: Option<VO>,
    pub(crate) partition: i32,
}

/// `has_hash(1) | hash(8) | partition(4) | has_value(1) | value`.
pub(crate) struct ResponseSerde<VO> {
    pub(crate) inner: SharedSerde<VO>,
}

impl<VO: 'static> Serde<Response<VO>> for ResponseSerde<VO> {
    fn serialize(&self, r: &Response<VO>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.push(u8::from(r.hash.is_some()));
        out.extend_from_slice(&r.hash.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&r.partition.to_be_bytes());
        match &r.foreign {
            Some(v) => {
                out.push(1);
                self.inner.serialize(v, out)
            }
            None => {
                out.push(0);
                Ok(())
            }
        }
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Response<VO>, SerdeError> {
        let bad = || SerdeError::deserialize::<Response<VO>>("malformed response");
        if bytes.len() < 14 {
            return Err(bad());
        }
        let hash =
            (bytes[0] == 1).then(|| u64::from_be_bytes(bytes[1..9].try_into().unwrap_or_default()));
        let partition = i32::from_be_bytes(bytes[9..13].try_into().map_err(|_| bad())?);
        let foreign = match bytes[13] {
            1 => Some(self.inner.deserialize(&bytes[14..])?),
            _ => None,
        };
        Ok(Response {
            hash,
            foreign,
            partition,
        })
    }
}

fn serde_err(what: &str) -> impl Fn(SerdeError) -> Error + '_ {
    move |source| Error::StoreSerde {
        store: what.to_string(),
        source,
    }
}

/// Left side: turns each left-table change into subscription messages keyed by foreign key.
pub(crate) struct SubscriptionSend<K, V, KO> {
    pub(crate) extractor: Arc<dyn Fn(&V) -> Option<KO> + Send + Sync>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) fk_serde: SharedSerde<KO>,
    pub(crate) left_join: bool,
    /// Whether the left table is versioned: its out-of-order updates are ignored (KIP-914).
    pub(crate) versioned: bool,
}

impl<K, V, KO> SubscriptionSend<K, V, KO>
where
    K: 'static,
    V: 'static,
    KO: Clone + 'static,
{
    fn fk_bytes(&self, fk: &Option<KO>) -> Result<Option<Vec<u8>>> {
        fk.as_ref()
            .map(|fk| {
                let mut out = Vec::new();
                self.fk_serde.serialize(fk, &mut out).map(|()| out)
            })
            .transpose()
            .map_err(serde_err("foreign key"))
    }
}

impl<K, V, KO> Processor for SubscriptionSend<K, V, KO>
where
    K: Clone + 'static,
    V: 'static,
    KO: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = Change<V>;
    type KeyOut = Option<KO>;
    type ValueOut = Subscription;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Option<KO>, Subscription>,
        record: Record<K, Change<V>>,
    ) -> ProcessResult {
        if self.versioned && !ctx.change_is_latest() {
            ctx.record_dropped(
                crate::runtime::DropReason::OutOfOrder,
                "out-of-order update of a versioned table in a foreign-key join",
            );
            return Ok(());
        }
        let mut pk = Vec::new();
        self.key_serde
            .serialize(&record.key, &mut pk)
            .map_err(serde_err("primary key"))?;
        let partition = ctx.record_metadata().map_or(0, |m| m.partition);
        let new_fk = record.value.new.as_ref().and_then(|v| (self.extractor)(v));
        let old_fk = record.value.old.as_ref().and_then(|v| (self.extractor)(v));
        let hash = match &record.value.new {
            Some(v) => {
                let mut bytes = Vec::new();
                self.value_serde
                    .serialize(v, &mut bytes)
                    .map_err(serde_err("left value"))?;
                Some(value_hash(&bytes))
            }
            None => None,
        };
        let same_fk = self.fk_bytes(&new_fk)? == self.fk_bytes(&old_fk)?;
        let mut send = |fk: Option<KO>, instruction: Instruction| {
            ctx.forward(Record {
                key: fk,
                value: Subscription {
                    instruction,
                    hash,
                    pk: pk.clone(),
                    partition,
                },
                timestamp: record.timestamp,
                headers: Headers::new(),
            })
        };
        use Instruction::*;
        match (&record.value.old, &record.value.new) {
            (None, None) => Ok(()),
            // Deleted row: unsubscribe and answer with a tombstone. A left join unsubscribes
            // silently and asks for the tombstone without a foreign key (Kafka's
            // leftJoinInstructions), so it carries the delete's own time; an inner join's
            // answer carries the later of that and the right row's.
            (Some(_), None) if self.left_join => {
                if let Some(fk) = old_fk {
                    send(Some(fk), DeleteKeyNoPropagate)?;
                }
                Ok(send(None, PropagateNullIfNoFkValAvailable)?)
            }
            (Some(_), None) => match old_fk {
                Some(fk) => Ok(send(Some(fk), DeleteKeyAndPropagate)?),
                None => Ok(()),
            },
            (old, Some(_)) => {
                if !same_fk && let Some(fk) = old_fk.clone() {
                    // The old subscription goes; with no new one (inner join, no foreign key)
                    // the old result must become a tombstone.
                    let instruction = if new_fk.is_none() && !self.left_join {
                        DeleteKeyAndPropagate
                    } else {
                        DeleteKeyNoPropagate
                    };
                    send(Some(fk), instruction)?;
                }
                match new_fk {
                    Some(fk) if self.left_join || (old.is_some() && !same_fk) => {
                        Ok(send(Some(fk), PropagateNullIfNoFkValAvailable)?)
                    }
                    Some(fk) => Ok(send(Some(fk), PropagateOnlyIfFkValAvailable)?),
                    None if self.left_join => Ok(send(None, PropagateNullIfNoFkValAvailable)?),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The subscription store key: `fk length (4) | fk | pk`.
fn combined_key(fk: &[u8], pk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + fk.len() + pk.len());
    out.extend_from_slice(&u32::try_from(fk.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(fk);
    out.extend_from_slice(pk);
    out
}

/// Right side: records subscriptions and answers them with the right row.
pub(crate) struct SubscriptionReceive<KO, VO> {
    pub(crate) subscriptions: String,
    pub(crate) right_store: String,
    pub(crate) fk_serde: SharedSerde<KO>,
    pub(crate) subs: Option<KeyValueStoreHandle<Vec<u8>, Vec<u8>>>,
    pub(crate) right: Option<TableStore<KO, VO>>,
}

impl<KO: Clone + 'static, VO: Clone + 'static> Processor for SubscriptionReceive<KO, VO> {
    type KeyIn = Option<KO>;
    type ValueIn = Subscription;
    type KeyOut = Vec<u8>;
    type ValueOut = Response<VO>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, Vec<u8>, Response<VO>>) -> ProcessResult {
        self.subs = Some(ctx.key_value_store(&self.subscriptions)?);
        self.right = Some(ctx.table_store(&self.right_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Vec<u8>, Response<VO>>,
        record: Record<Option<KO>, Subscription>,
    ) -> ProcessResult {
        use Instruction::*;
        let sub = record.value;
        let respond = |ctx: &mut ProcessorContext<'_, Vec<u8>, Response<VO>>,
                       foreign: Option<VO>,
                       ts: i64| {
            ctx.forward(Record {
                key: sub.pk.clone(),
                value: Response {
                    hash: sub.hash,
                    foreign,
                    partition: sub.partition,
                },
                timestamp: ts,
                headers: Headers::new(),
            })
        };
        let Some(fk) = record.key else {
            // Left joins subscribe rows without a foreign key: they join with nothing.
            if sub.instruction == PropagateNullIfNoFkValAvailable {
                respond(ctx, None, record.timestamp)?;
            }
            return Ok(());
        };
        let mut fk_bytes = Vec::new();
        self.fk_serde
            .serialize(&fk, &mut fk_bytes)
            .map_err(serde_err("foreign key"))?;
        let key = combined_key(&fk_bytes, &sub.pk);
        let subs = ctx.initialized(&self.subs)?;
        match sub.instruction {
            DeleteKeyNoPropagate | DeleteKeyAndPropagate => subs.delete(&key)?,
            _ => {
                let mut bytes = Vec::new();
                SubscriptionSerde
                    .serialize(&sub, &mut bytes)
                    .map_err(serde_err("subscription"))?;
                subs.put(&key, &bytes)?;
            }
        }
        let right = ctx.initialized(&self.right)?.get_with_timestamp(&fk)?;
        let ts_with = |rts: i64| record.timestamp.max(rts);
        match (sub.instruction, right) {
            (DeleteKeyNoPropagate, _) => Ok(()),
            // As every answer, the delete is stamped with the later of the subscription's time
            // and the right row's (Kafka's SubscriptionJoinProcessorSupplier).
            (DeleteKeyAndPropagate, right) => {
                let ts = right.map_or(record.timestamp, |(_, ts)| ts_with(ts));
                Ok(respond(ctx, None, ts)?)
            }
            (PropagateNullIfNoFkValAvailable, Some((v, ts)))
            | (PropagateOnlyIfFkValAvailable, Some((v, ts))) => {
                Ok(respond(ctx, Some(v), ts_with(ts))?)
            }
            (PropagateNullIfNoFkValAvailable, None) => Ok(respond(ctx, None, record.timestamp)?),
            (PropagateOnlyIfFkValAvailable, None) => Ok(()),
        }
    }
}

/// Right side: a right-row change answers every subscriber of that key.
pub(crate) struct ForeignTableJoin<KO, VO> {
    pub(crate) subscriptions: String,
    pub(crate) fk_serde: SharedSerde<KO>,
    pub(crate) subs: Option<KeyValueStoreHandle<Vec<u8>, Vec<u8>>>,
    /// Whether the right table is versioned: its out-of-order updates are ignored (KIP-914).
    pub(crate) versioned: bool,
    pub(crate) _types: PhantomData<fn(VO)>,
}

impl<KO: Clone + 'static, VO: Clone + 'static> Processor for ForeignTableJoin<KO, VO> {
    type KeyIn = KO;
    type ValueIn = Change<VO>;
    type KeyOut = Vec<u8>;
    type ValueOut = Response<VO>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, Vec<u8>, Response<VO>>) -> ProcessResult {
        self.subs = Some(ctx.key_value_store(&self.subscriptions)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Vec<u8>, Response<VO>>,
        record: Record<KO, Change<VO>>,
    ) -> ProcessResult {
        if self.versioned && !ctx.change_is_latest() {
            ctx.record_dropped(
                crate::runtime::DropReason::OutOfOrder,
                "out-of-order update of a versioned table in a foreign-key join",
            );
            return Ok(());
        }
        let mut fk_bytes = Vec::new();
        self.fk_serde
            .serialize(&record.key, &mut fk_bytes)
            .map_err(serde_err("foreign key"))?;
        let prefix = combined_key(&fk_bytes, &[]);
        let subscribers = ctx
            .initialized(&self.subs)?
            .prefix_scan(&prefix, &crate::serde::BytesSerde)?;
        for (key, bytes) in subscribers {
            let sub = SubscriptionSerde
                .deserialize(&bytes)
                .map_err(serde_err("subscription"))?;
            ctx.forward(Record {
                key: key[prefix.len()..].to_vec(),
                value: Response {
                    hash: sub.hash,
                    foreign: record.value.new.clone(),
                    partition: sub.partition,
                },
                timestamp: record.timestamp,
                headers: Headers::new(),
            })?;
        }
        Ok(())
    }
}

/// Left side: joins a response with the current left row if it still answers that row.
pub(crate) struct ResponseJoin<K, V, VO, VR> {
    pub(crate) left_store: String,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) joiner: Arc<dyn Fn(&V, Option<&VO>) -> Option<VR> + Send + Sync>,
    pub(crate) left_join: bool,
    pub(crate) left: Option<TableStore<K, V>>,
}

impl<K, V, VO, VR> Processor for ResponseJoin<K, V, VO, VR>
where
    K: Clone + 'static,
    V: 'static,
    VO: 'static,
    VR: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = Response<VO>;
    type KeyOut = K;
    type ValueOut = Option<VR>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Option<VR>>) -> ProcessResult {
        self.left = Some(ctx.table_store(&self.left_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Option<VR>>,
        record: Record<K, Response<VO>>,
    ) -> ProcessResult {
        let current = ctx
            .initialized(&self.left)?
            .get_with_timestamp(&record.key)?
            .map(|(v, _)| v);
        let current_hash = match &current {
            Some(v) => {
                let mut bytes = Vec::new();
                self.value_serde
                    .serialize(v, &mut bytes)
                    .map_err(serde_err("left value"))?;
                Some(value_hash(&bytes))
            }
            None => None,
        };
        if current_hash != record.value.hash {
            // An answer to a version of the row that has since changed.
            return Ok(());
        }
        let result = match (&current, &record.value.foreign) {
            (None, _) => None,
            (Some(_), None) if !self.left_join => None,
            (Some(v), foreign) => (self.joiner)(v, foreign.as_ref()),
        };
        Ok(ctx.forward(record.with_value(result))?)
    }
}
