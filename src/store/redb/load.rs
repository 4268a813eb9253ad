//! Reading: [`Store::load`] (the checkpoint with the deltas after it
//! applied, and the journal), [`Store::load_summary`] and
//! [`Store::sessions_with_tasks`] of [`RedbStore`].
//!
//! Every read checks what it decodes: a missing delta, a checkpoint at
//! another seq than the meta says, or a row that does not decode fails the
//! load of that key only, with a message naming the record.
//!
//! [`Store::load`]: crate::store::Store::load
//! [`Store::load_summary`]: crate::store::Store::load_summary
//! [`Store::sessions_with_tasks`]: crate::store::Store::sessions_with_tasks

use std::sync::Arc;

use redb::{ReadTransaction, ReadableTable, TableDefinition};
use serde_json::value::RawValue;
use serde_json::Value;

use super::tables::{
    fail, from_json, Checkpoint, DeltaRecord, Meta, PendingRow, RecentRow, CHECKPOINTS, DELTAS,
    META, PENDING_CHAINS, RECENT_CHAINS, RECENT_EVENTS, TASKS,
};
use super::RedbStore;
use crate::ids::SessionKey;
use crate::store::{Outcome, SavedChain, SavedDelta, SavedSession, SavedTask, StoreError};

impl RedbStore {
    /// Everything kept for `key`, `None` if never written.
    pub(super) fn load_session(
        &self,
        key: &SessionKey,
    ) -> Result<Option<SavedSession>, StoreError> {
        let txn = self.begin_read(&format!("reading {key}"))?;
        let Some(meta) = read_meta(&txn, key)? else {
            return Ok(None);
        };
        let (state, journal) = read_state(&txn, key, &meta)?;
        Ok(Some(SavedSession {
            state,
            seq: meta.seq,
            epoch: meta.epoch,
            journal,
            pending_chains: read_pending(&txn, key)?,
            recent: read_recent(&txn, RECENT_EVENTS, "event", key)?,
            summary: meta.summary,
            recent_chains: read_recent(&txn, RECENT_CHAINS, "chain", key)?,
            tasks: {
                let table = txn
                    .open_table(TASKS)
                    .map_err(|e| fail(format_args!("reading the tasks of {key}"), e))?;
                read_tasks(&table, key)?
            },
        }))
    }

    /// The summary in the key's meta, reading nothing else.
    pub(super) fn read_summary(&self, key: &SessionKey) -> Result<Option<Value>, StoreError> {
        let txn = self.begin_read(&format!("reading {key}"))?;
        Ok(read_meta(&txn, key)?.map(|m| m.summary))
    }

    /// Distinct session keys in the `tasks` table. A key that does not
    /// parse (a corrupt row) is logged and skipped.
    pub(super) fn keys_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        let txn = self.begin_read("listing sessions with tasks")?;
        let table = txn
            .open_table(TASKS)
            .map_err(|e| fail("listing sessions with tasks", e))?;
        let mut keys: Vec<SessionKey> = Vec::new();
        for row in table
            .iter()
            .map_err(|e| fail("listing sessions with tasks", e))?
        {
            let (id, _) = row.map_err(|e| fail("listing sessions with tasks", e))?;
            let owner = id.value().0;
            if keys.last().is_some_and(|k| k.as_str() == owner) {
                continue;
            }
            match SessionKey::parse(owner) {
                Ok(k) => keys.push(k),
                Err(e) => {
                    tracing::error!(error = %e, "a task row has an invalid session key; skipped")
                }
            }
        }
        Ok(keys)
    }
}

/// Reads a key's meta in a read transaction.
fn read_meta(txn: &ReadTransaction, key: &SessionKey) -> Result<Option<Meta>, StoreError> {
    let table = txn
        .open_table(META)
        .map_err(|e| fail(format_args!("reading the meta of {key}"), e))?;
    let row = table
        .get(key.as_str())
        .map_err(|e| fail(format_args!("reading the meta of {key}"), e))?;
    row.map(|v| from_json(format_args!("meta of {key}"), v.value()))
        .transpose()
}

/// Rebuilds a key's state and journal from its checkpoint and deltas.
fn read_state(
    txn: &ReadTransaction,
    key: &SessionKey,
    meta: &Meta,
) -> Result<(Value, Vec<SavedDelta>), StoreError> {
    let k = key.as_str();
    let checkpoints = txn
        .open_table(CHECKPOINTS)
        .map_err(|e| fail(format_args!("reading the checkpoint of {key}"), e))?;
    let checkpoint: Checkpoint = match checkpoints
        .get(k)
        .map_err(|e| fail(format_args!("reading the checkpoint of {key}"), e))?
    {
        Some(v) => from_json(format_args!("checkpoint of {key}"), v.value())?,
        None => {
            return Err(StoreError {
                message: format!("{key} has a meta but no checkpoint"),
            })
        }
    };
    if checkpoint.seq != meta.checkpoint_seq || checkpoint.seq > meta.seq {
        return Err(StoreError {
            message: format!(
                "checkpoint of {key} is at seq {}, its meta says {} (seq {})",
                checkpoint.seq, meta.checkpoint_seq, meta.seq
            ),
        });
    }
    let mut state = checkpoint.state;
    let mut journal = Vec::new();
    // Without an epoch the journal is meaningless (the session starts
    // a new one): only the rebuild reads deltas.
    let journal_from = if meta.has_journal() && meta.epoch.is_some() {
        meta.journal_from
    } else {
        u64::MAX
    };
    // The journal never starts below what is kept: `keep_from` is the
    // lower of the journal's start and the rebuild's.
    let start = meta.keep_from();
    if start > meta.seq {
        return Ok((state, journal));
    }
    let deltas = txn
        .open_table(DELTAS)
        .map_err(|e| fail(format_args!("reading the deltas of {key}"), e))?;
    let rows = deltas
        .range((k, start)..=(k, meta.seq))
        .map_err(|e| fail(format_args!("reading the deltas of {key}"), e))?;
    let mut expected = start;
    for row in rows {
        let (seq, value) = row.map_err(|e| fail(format_args!("reading the deltas of {key}"), e))?;
        let seq = seq.value().1;
        if seq != expected {
            break;
        }
        let text = std::str::from_utf8(value.value())
            .map_err(|e| fail(format_args!("delta {seq} of {key} is not UTF-8"), e))?;
        if seq > checkpoint.seq {
            let record: DeltaRecord =
                from_json(format_args!("delta {seq} of {key}"), text.as_bytes())?;
            if record.seq != seq {
                return Err(StoreError {
                    message: format!("delta {seq} of {key} says seq {}", record.seq),
                });
            }
            json_patch::patch(&mut state, &record.patch.0)
                .map_err(|e| fail(format_args!("applying delta {seq} of {key}"), e))?;
        }
        if seq >= journal_from {
            let raw = RawValue::from_string(text.to_owned())
                .map_err(|e| fail(format_args!("delta {seq} of {key} does not decode"), e))?;
            journal.push(SavedDelta {
                seq,
                payload: Arc::from(raw),
            });
        }
        expected += 1;
    }
    if expected != meta.seq.saturating_add(1) {
        return Err(StoreError {
            message: format!(
                "delta {expected} of {key} is missing (needed from {start} to {})",
                meta.seq
            ),
        });
    }
    Ok((state, journal))
}

/// Reads a key's rows of a recent-id table, oldest first.
fn read_recent(
    txn: &ReadTransaction,
    def: TableDefinition<(&'static str, u64), &'static [u8]>,
    what: &str,
    key: &SessionKey,
) -> Result<Vec<(String, Outcome)>, StoreError> {
    let k = key.as_str();
    let table = txn
        .open_table(def)
        .map_err(|e| fail(format_args!("reading the recent {what} ids of {key}"), e))?;
    let rows = table
        .range((k, 0)..=(k, u64::MAX))
        .map_err(|e| fail(format_args!("reading the recent {what} ids of {key}"), e))?;
    let mut out = Vec::new();
    for row in rows {
        let (n, value) =
            row.map_err(|e| fail(format_args!("reading the recent {what} ids of {key}"), e))?;
        let row: RecentRow = from_json(
            format_args!("recent {what} id #{} of {key}", n.value().1),
            value.value(),
        )?;
        out.push((row.id, row.outcome));
    }
    Ok(out)
}

/// Reads a key's pending chains, in creation order.
fn read_pending(txn: &ReadTransaction, key: &SessionKey) -> Result<Vec<SavedChain>, StoreError> {
    let k = key.as_str();
    let table = txn
        .open_table(PENDING_CHAINS)
        .map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?;
    let rows = table
        .range((k, "")..)
        .map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, value) =
            row.map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?;
        if id.value().0 != k {
            break;
        }
        let row: PendingRow = from_json(format_args!("a pending chain of {key}"), value.value())?;
        out.push(row);
    }
    out.sort_by_key(|r| r.no);
    Ok(out.into_iter().map(|r| r.chain).collect())
}

/// The running restartable tasks recorded for `key`, by task key.
pub(super) fn read_tasks(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    key: &SessionKey,
) -> Result<Vec<SavedTask>, StoreError> {
    let k = key.as_str();
    let rows = table
        .range((k, "")..)
        .map_err(|e| fail(format_args!("reading the tasks of {key}"), e))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, value) = row.map_err(|e| fail(format_args!("reading the tasks of {key}"), e))?;
        let (owner, task) = id.value();
        if owner != k {
            break;
        }
        let input = from_json(
            format_args!("the input of task {task:?} of {key}"),
            value.value(),
        )?;
        out.push(SavedTask {
            key: task.to_owned(),
            input,
        });
    }
    Ok(out)
}
