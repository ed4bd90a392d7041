//! The two rules' steps that keep per-card state by hand (Processor API, through
//! `KStream::process_values`): where the card was last present, for impossible travel; and
//! which transaction was last alerted, to drop repeated join results.
//!
//! Both are fixed-key processors: the key stays the card, so no repartitioning follows them,
//! and their stores are partitioned like the transactions topic.

use crate::model::{Alert, Transaction};
use crate::rules::{FraudConfig, LastSeen, travel_alert};
use streams_core::processor::{FixedKeyContext, FixedKeyProcessor, FixedKeyRecord, ProcessResult};
use streams_core::state::KeyValueStoreHandle;

/// Store of the last card-present payment per card.
pub(crate) const LAST_SEEN_STORE: &str = "last-card-present";
/// Store of the last transaction alerted for small-then-large, per card.
pub(crate) const STL_ALERTED_STORE: &str = "small-then-large-alerted";

/// Impossible travel: compares each card-present payment with the card's previous one and
/// forwards an alert when the hop between them is too fast.
#[derive(Debug)]
pub(crate) struct TravelCheck {
    cfg: FraudConfig,
    store: Option<KeyValueStoreHandle<String, LastSeen>>,
}

impl TravelCheck {
    /// A check with `cfg`'s thresholds over [`LAST_SEEN_STORE`].
    pub(crate) fn new(cfg: FraudConfig) -> TravelCheck {
        TravelCheck { cfg, store: None }
    }
}

impl FixedKeyProcessor for TravelCheck {
    type Key = String;
    type ValueIn = Transaction;
    type ValueOut = Alert;

    fn init(&mut self, ctx: &mut FixedKeyContext<'_, '_, String, Alert>) -> ProcessResult {
        self.store = Some(ctx.key_value_store(LAST_SEEN_STORE)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut FixedKeyContext<'_, '_, String, Alert>,
        record: FixedKeyRecord<String, Transaction>,
    ) -> ProcessResult {
        let store = self
            .store
            .as_ref()
            .ok_or("the travel check runs before init")?;
        let txn = record.value();
        if !txn.card_present {
            return Ok(());
        }
        let last = store.get(record.key())?;
        // Keep the latest presence: a late payment is checked but does not move the card back.
        if last
            .as_ref()
            .is_none_or(|l| l.timestamp_ms <= txn.timestamp_ms)
        {
            store.put(record.key(), &LastSeen::of(txn))?;
        }
        if let Some(alert) = last.and_then(|l| travel_alert(&l, txn, &self.cfg)) {
            ctx.forward(record.with_value(alert))?;
        }
        Ok(())
    }
}

/// Drops an alert about the transaction alerted just before it for the same card: a join
/// yields one result per matching pair, so a large payment after two small ones would alert
/// twice. The results of one payment come out one after another, so remembering the last
/// alerted transaction per card is enough.
#[derive(Debug, Default)]
pub(crate) struct DedupeAlerts {
    store: Option<KeyValueStoreHandle<String, String>>,
}

impl FixedKeyProcessor for DedupeAlerts {
    type Key = String;
    type ValueIn = Alert;
    type ValueOut = Alert;

    fn init(&mut self, ctx: &mut FixedKeyContext<'_, '_, String, Alert>) -> ProcessResult {
        self.store = Some(ctx.key_value_store(STL_ALERTED_STORE)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut FixedKeyContext<'_, '_, String, Alert>,
        record: FixedKeyRecord<String, Alert>,
    ) -> ProcessResult {
        let store = self
            .store
            .as_ref()
            .ok_or("the alert dedupe runs before init")?;
        let transaction = &record.value().transaction;
        if store.get(record.key())?.as_ref() == Some(transaction) {
            return Ok(());
        }
        store.put(record.key(), transaction)?;
        ctx.forward(record)?;
        Ok(())
    }
}
