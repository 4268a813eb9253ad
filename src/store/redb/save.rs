//! Saving a whole session: [`SessionStore::save`] of [`RedbStore`], which replaces
//! every row of a key in one transaction.
//!
//! [`SessionStore::save`]: crate::store::SessionStore::save

use std::time::SystemTime;

use redb::ReadableTable;

use super::load::read_tasks;
use super::retention::Stamp;
use super::tables::{as_u64, fail, Meta, Tables};
use super::write::push_recent;
use super::RedbStore;
use crate::ids::SessionKey;
use crate::store::{gapless_tail, unix_ms, SavedSession, StoreError};

impl RedbStore {
    /// Replaces everything kept for `key` with `session`; see
    /// [`crate::store::SessionStore::save`] on [`RedbStore`].
    pub(super) fn save_session(
        &self,
        key: &SessionKey,
        session: &SavedSession,
    ) -> Result<(), StoreError> {
        let what = format!("saving {key}");
        let txn = self.begin_write(&what)?;
        {
            let mut t = Tables::open(&txn)?;
            let was_active = t.read_meta(key)?.map_or(0, |m| m.active_ms);
            t.clear_key(key)?;
            let k = key.as_str();
            let mut meta = Meta::new(session.epoch.clone(), session.seq);
            meta.active_ms = was_active;
            t.stamp(key, &mut meta, unix_ms(SystemTime::now()), Stamp::Always)?;
            meta.summary = session.summary.clone();
            t.write_checkpoint(key, session.seq, &session.state)?;

            if session.epoch.is_some() {
                let journal = gapless_tail(&session.journal, session.seq);
                for d in journal {
                    t.deltas
                        .insert((k, d.seq), d.payload.get().as_bytes())
                        .map_err(|e| fail(format_args!("writing delta {} of {key}", d.seq), e))?;
                }
                if let Some(first) = journal.first() {
                    meta.journal_from = first.seq;
                }
            }

            let limit = as_u64(self.options.recent_events);
            for (table, what, span, recent) in [
                (
                    &mut t.recent_events,
                    "event",
                    &mut meta.events,
                    &session.recent,
                ),
                (
                    &mut t.recent_chains,
                    "chain",
                    &mut meta.chains,
                    &session.recent_chains,
                ),
            ] {
                let skip = recent.len().saturating_sub(self.options.recent_events);
                for (id, outcome) in recent.iter().skip(skip) {
                    push_recent(table, what, key, span, limit, id, outcome)?;
                }
            }
            for chain in &session.pending_chains {
                t.put_pending(key, meta.next_pending, chain)?;
                meta.next_pending += 1;
            }
            for task in &session.tasks {
                t.put_task(key, task)?;
            }
            t.write_meta(key, &meta)?;
        }
        self.commit(txn, &what)
    }
}

impl Tables<'_> {
    /// Deletes every row of `key` but its meta, checkpoint and activity
    /// (which the caller overwrites or deletes).
    pub(super) fn clear_key(&mut self, key: &SessionKey) -> Result<(), StoreError> {
        let k = key.as_str();
        for (name, table) in [
            ("deltas", &mut self.deltas),
            ("recent event ids", &mut self.recent_events),
            ("recent chain ids", &mut self.recent_chains),
        ] {
            table
                .retain_in((k, 0)..=(k, u64::MAX), |_, _| false)
                .map_err(|e| fail(format_args!("deleting the {name} of {key}"), e))?;
        }
        let mut chains = Vec::new();
        for row in self
            .pending
            .range((k, "")..)
            .map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?
        {
            let (id, _) =
                row.map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?;
            let (owner, chain) = id.value();
            if owner != k {
                break;
            }
            chains.push(chain.to_owned());
        }
        for chain in &chains {
            self.pending
                .remove((k, chain.as_str()))
                .map_err(|e| fail(format_args!("deleting the pending chains of {key}"), e))?;
        }
        let tasks = read_tasks(&self.tasks, key)?;
        for task in &tasks {
            self.tasks
                .remove((k, task.key.as_str()))
                .map_err(|e| fail(format_args!("deleting the tasks of {key}"), e))?;
        }
        Ok(())
    }
}
