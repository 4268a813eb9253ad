//! Reading: [`StepLog::load_steps`] (a key's checkpoint, deltas and
//! records, which [`LoggedSession::rebuild`] makes a session of),
//! [`SessionStore::load_summary`] and [`SessionStore::sessions_with_tasks`]
//! of [`RedbStore`].
//!
//! Every read checks what it decodes: a checkpoint at another seq than the
//! meta says, or a row that does not decode fails the load of that key
//! only, with a message naming the record (the rebuild checks the deltas).
//!
//! [`StepLog::load_steps`]: crate::store::StepLog::load_steps
//! [`LoggedSession::rebuild`]: crate::store::LoggedSession::rebuild
//! [`SessionStore::load_summary`]: crate::store::SessionStore::load_summary
//! [`SessionStore::sessions_with_tasks`]: crate::store::SessionStore::sessions_with_tasks

use std::sync::Arc;

use redb::{ReadTransaction, ReadableTable, TableDefinition};
use serde_json::value::RawValue;
use serde_json::Value;

use super::tables::{
    fail, from_json, Checkpoint, Meta, PendingRow, RecentRow, CHECKPOINTS, DELTAS, META,
    PENDING_CHAINS, RECENT_CHAINS, RECENT_EVENTS, TASKS,
};
use super::RedbStore;
use crate::ids::SessionKey;
use crate::store::{LoggedSession, Outcome, SavedChain, SavedDelta, SavedTask, StoreError};

impl RedbStore {
    /// Everything kept for `key`, `None` if never written.
    pub(super) fn read_logged(
        &self,
        key: &SessionKey,
    ) -> Result<Option<LoggedSession>, StoreError> {
        let txn = self.begin_read(&format!("reading {key}"))?;
        let Some(meta) = read_meta(&txn, key)? else {
            return Ok(None);
        };
        let mut logged = LoggedSession::new(meta.seq, meta.epoch.clone(), Value::Null);
        logged.checkpoint = read_checkpoint(&txn, key, &meta)?;
        logged.checkpoint_seq = meta.checkpoint_seq;
        logged.journal_from = meta.journal_from;
        logged.deltas = read_deltas(&txn, key, &meta)?;
        logged.pending_chains = read_pending(&txn, key)?;
        logged.recent = read_recent(&txn, RECENT_EVENTS, "event", key)?;
        logged.recent_chains = read_recent(&txn, RECENT_CHAINS, "chain", key)?;
        logged.summary = meta.summary;
        logged.tasks = {
            let table = txn
                .open_table(TASKS)
                .map_err(|e| fail(format_args!("reading the tasks of {key}"), e))?;
            read_tasks(&table, key)?
        };
        Ok(Some(logged))
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

/// Reads a key's checkpoint, which must be at the seq its meta names.
fn read_checkpoint(
    txn: &ReadTransaction,
    key: &SessionKey,
    meta: &Meta,
) -> Result<Value, StoreError> {
    let checkpoints = txn
        .open_table(CHECKPOINTS)
        .map_err(|e| fail(format_args!("reading the checkpoint of {key}"), e))?;
    let checkpoint: Checkpoint = match checkpoints
        .get(key.as_str())
        .map_err(|e| fail(format_args!("reading the checkpoint of {key}"), e))?
    {
        Some(v) => from_json(format_args!("checkpoint of {key}"), v.value())?,
        None => {
            return Err(StoreError::corrupt(format_args!(
                "{key} has a meta but no checkpoint"
            )))
        }
    };
    if checkpoint.seq != meta.checkpoint_seq || checkpoint.seq > meta.seq {
        return Err(StoreError::corrupt(format_args!(
            "checkpoint of {key} is at seq {}, its meta says {} (seq {})",
            checkpoint.seq, meta.checkpoint_seq, meta.seq
        )));
    }
    Ok(checkpoint.state)
}

/// Reads the delta rows of a key from its `keep_from` (the lower of the
/// journal's start and the rebuild's) to its seq, up to the first gap
/// (which the rebuild reports).
fn read_deltas(
    txn: &ReadTransaction,
    key: &SessionKey,
    meta: &Meta,
) -> Result<Vec<SavedDelta>, StoreError> {
    let k = key.as_str();
    let start = meta.keep_from();
    let mut out = Vec::new();
    if start > meta.seq {
        return Ok(out);
    }
    let deltas = txn
        .open_table(DELTAS)
        .map_err(|e| fail(format_args!("reading the deltas of {key}"), e))?;
    let rows = deltas
        .range((k, start)..=(k, meta.seq))
        .map_err(|e| fail(format_args!("reading the deltas of {key}"), e))?;
    for row in rows {
        let (seq, value) = row.map_err(|e| fail(format_args!("reading the deltas of {key}"), e))?;
        let seq = seq.value().1;
        if seq != start + super::tables::as_u64(out.len()) {
            break;
        }
        let text = std::str::from_utf8(value.value())
            .map_err(|e| corrupt(format_args!("delta {seq} of {key} is not UTF-8"), e))?;
        let raw = RawValue::from_string(text.to_owned())
            .map_err(|e| corrupt(format_args!("delta {seq} of {key} does not decode"), e))?;
        out.push(SavedDelta {
            seq,
            payload: Arc::from(raw),
        });
    }
    Ok(out)
}

/// A [`StoreError`] saying which record does not read back, and why.
fn corrupt(what: impl std::fmt::Display, cause: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(format_args!("{what}: {cause}"))
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
