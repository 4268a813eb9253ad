//! Writing steps: [`StepLog::append`] of [`RedbStore`], the group commit of
//! any number of keys' steps in one transaction.
//!
//! Each step is checked against the key's meta (its seq must follow, or it
//! must carry a checkpoint), then its rows are written and the meta
//! advanced; the deltas no longer needed are deleted (`trim.rs`) once per
//! key at the end of the batch. Whole-session saves are in `save.rs`.
//!
//! [`StepLog::append`]: crate::store::StepLog::append

use std::collections::HashMap;
use std::time::SystemTime;

use redb::Table;

use super::retention::Stamp;
use super::tables::{as_u64, fail, to_json, Meta, RecentRef, Span, Tables};
use super::trim::forget_recent;
use super::RedbStore;
use crate::ids::{Epoch, SessionKey};
use crate::store::{unix_ms, Outcome, Step, StoreError};

impl RedbStore {
    /// Writes `steps` in one transaction, in order, then per touched key
    /// deletes the deltas no longer needed and writes the meta. See
    /// [`crate::store::StepLog::append`] on [`RedbStore`] for the contract.
    /// An error names the key of the step it concerns.
    pub(super) fn append_steps(&self, steps: &[Step]) -> Result<(), StoreError> {
        if steps.is_empty() {
            return Ok(());
        }
        let what = format!("appending {} steps", steps.len());
        let txn = self.begin_write(&what)?;
        {
            let mut t = Tables::open(&txn)?;
            let mut metas: HashMap<&SessionKey, Meta> = HashMap::new();
            for step in steps {
                let meta = match metas.remove(&step.key) {
                    Some(m) => Some(m),
                    None => t.read_meta(&step.key).map_err(|e| e.for_key(&step.key))?,
                };
                let meta = self
                    .apply_step(&mut t, meta, step)
                    .map_err(|e| e.for_key(&step.key))?;
                metas.insert(&step.key, meta);
            }
            let now = unix_ms(SystemTime::now());
            for (key, meta) in &mut metas {
                let trimmed = t
                    .trim_deltas(key, meta)
                    .and_then(|()| t.stamp(key, meta, now, Stamp::Coarse))
                    .and_then(|()| t.write_meta(key, meta));
                trimmed.map_err(|e| e.for_key(key))?;
            }
        }
        self.commit(txn, &what)
    }

    /// Applies one step to the tables; `meta` is the key's record so far
    /// (`None` for a key never written).
    fn apply_step(
        &self,
        t: &mut Tables<'_>,
        meta: Option<Meta>,
        step: &Step,
    ) -> Result<Meta, StoreError> {
        let key = &step.key;
        let k = key.as_str();
        step.check_deltas()?;
        let mut m = match meta {
            Some(m) if follows(&m, step) => {
                if m.epoch.as_ref() != Some(&step.epoch) {
                    // A new epoch's cursors never replay the old epoch's
                    // deltas; they stay only if the rebuild needs them.
                    with_epoch(m, &step.epoch)
                } else {
                    m
                }
            }
            other => restart(t, other, step)?,
        };
        // The rows `m.journal_from..=m.seq` are held, and this step's
        // deltas continue them: the window can start no lower.
        let held_from = m.journal_from;
        m.seq = step.seq;

        for d in &step.deltas {
            t.deltas
                .insert((k, d.seq), d.payload.get().as_bytes())
                .map_err(|e| fail(format_args!("writing delta {} of {key}", d.seq), e))?;
        }
        if let Some(state) = &step.checkpoint {
            t.write_checkpoint(key, step.seq, state)?;
            m.checkpoint_seq = step.seq;
        }
        m.take_window(step, held_from);
        let limit = as_u64(self.options.recent_events);
        if let Some((id, outcome)) = &step.event {
            let span = &mut m.events;
            push_recent(&mut t.recent_events, "event", key, span, limit, id, outcome)?;
        }
        if let Some((id, outcome)) = &step.chain {
            let span = &mut m.chains;
            push_recent(&mut t.recent_chains, "chain", key, span, limit, id, outcome)?;
        }
        for chain in &step.chains_added {
            t.put_pending(key, m.next_pending, chain)?;
            m.next_pending += 1;
        }
        for chain in &step.chains_removed {
            t.pending
                .remove((k, chain.as_str()))
                .map_err(|e| fail(format_args!("removing a pending chain of {key}"), e))?;
        }
        for task in &step.tasks_started {
            t.put_task(key, task)?;
        }
        for task in &step.tasks_ended {
            t.tasks
                .remove((k, task.as_str()))
                .map_err(|e| fail(format_args!("removing task {task:?} of {key}"), e))?;
        }
        if let Some(summary) = &step.summary {
            m.summary = summary.clone();
        }
        Ok(m)
    }
}

/// Whether `step` continues the key at `m`: its first delta produces the
/// seq after `m.seq`, or it has none and stays at `m.seq`.
fn follows(m: &Meta, step: &Step) -> bool {
    match step.deltas.first() {
        Some(first) => m.seq.checked_add(1) == Some(first.seq),
        None => m.seq == step.seq,
    }
}

/// The meta of a step that does not follow `old` (or of a key never
/// written): it must carry a checkpoint, and the key's deltas restart at
/// it; the other records (recent ids, chains, summary) stay.
fn restart(t: &mut Tables<'_>, old: Option<Meta>, step: &Step) -> Result<Meta, StoreError> {
    let key = &step.key;
    if step.checkpoint.is_none() {
        return Err(StoreError::invalid(match old {
            None => format!(
                "first step of {key} (seq {}) carries no checkpoint",
                step.seq
            ),
            Some(m) => format!(
                "step of {key} at seq {} ({} deltas) does not follow saved seq {} \
                 and carries no checkpoint",
                step.seq,
                step.deltas.len(),
                m.seq
            ),
        }));
    }
    let k = key.as_str();
    t.deltas
        .retain_in((k, 0)..=(k, u64::MAX), |_, _| false)
        .map_err(|e| fail(format_args!("deleting the deltas of {key}"), e))?;
    let mut fresh = Meta::new(Some(step.epoch.clone()), step.seq);
    // The step's own deltas are the only rows the key will hold.
    if let Some(first) = step.deltas.first() {
        fresh.journal_from = first.seq;
    }
    if let Some(old) = old {
        fresh.summary = old.summary;
        fresh.events = old.events;
        fresh.chains = old.chains;
        fresh.next_pending = old.next_pending;
        fresh.active_ms = old.active_ms;
    }
    Ok(fresh)
}

/// `m` with its journal emptied for a new epoch.
fn with_epoch(mut m: Meta, epoch: &Epoch) -> Meta {
    m.journal_from = m.seq.saturating_add(1);
    m.epoch = Some(epoch.clone());
    m
}

/// Appends `(id, outcome)` as the key's newest row of a recent-id table
/// and forgets the oldest rows beyond `limit`.
pub(super) fn push_recent(
    table: &mut Table<'_, (&'static str, u64), &'static [u8]>,
    what: &str,
    key: &SessionKey,
    span: &mut Span,
    limit: u64,
    id: &str,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    let value = to_json(
        format_args!("recent {what} id of {key}"),
        &RecentRef { id, outcome },
    )?;
    table
        .insert((key.as_str(), span.next), value.as_slice())
        .map_err(|e| fail(format_args!("writing a recent {what} id of {key}"), e))?;
    span.next += 1;
    forget_recent(table, what, key, span, limit)
}
