//! What of a key's rows stays bounded: delta rows neither the journal nor
//! the rebuild needs are deleted, and recent-id rows beyond the limit are
//! forgotten.
//!
//! The store does not decide the journal window: the session's journal
//! (`session::journal`, bounded by count and bytes) does, and each step
//! names its first seq ([`Step::journal_from`]). This file keeps that
//! window and the deltas after the checkpoint, and deletes the rest.

use redb::Table;

use super::tables::{fail, Meta, Span, Tables};
use crate::ids::SessionKey;
use crate::store::{Step, StoreError};

impl Meta {
    /// Takes the journal window `step` names, after its deltas were
    /// written. `held_from` is the first delta row the journal could start
    /// at (the previous window's start in this epoch, or the first delta
    /// written since): a session names no delta the store never held, but
    /// if a step did, the window starts at the first held one instead, so
    /// the journal never has a gap. A window starting after `seq` is empty.
    pub(super) fn take_window(&mut self, step: &Step, held_from: u64) {
        self.journal_from = step
            .journal_from
            .max(held_from)
            .min(self.seq.saturating_add(1));
    }

    /// The lowest seq whose delta must be kept: the journal's first, or the
    /// first after the checkpoint (the rebuild applies those), whichever is
    /// lower.
    pub(super) fn keep_from(&self) -> u64 {
        self.journal_from.min(self.checkpoint_seq.saturating_add(1))
    }
}

impl Tables<'_> {
    /// Deletes the deltas of `key` below what `meta` still needs.
    pub(super) fn trim_deltas(&mut self, key: &SessionKey, meta: &Meta) -> Result<(), StoreError> {
        let k = key.as_str();
        let low = meta.keep_from();
        if low > 0 {
            self.deltas
                .retain_in((k, 0)..(k, low), |_, _| false)
                .map_err(|e| fail(format_args!("deleting old deltas of {key}"), e))?;
        }
        Ok(())
    }
}

/// Forgets the oldest rows of `key` in a recent-id table while more than
/// `limit` are kept. `what` (`"event"` or `"chain"`) names the table in
/// errors.
pub(super) fn forget_recent(
    table: &mut Table<'_, (&'static str, u64), &'static [u8]>,
    what: &str,
    key: &SessionKey,
    span: &mut Span,
    limit: u64,
) -> Result<(), StoreError> {
    let k = key.as_str();
    while span.next - span.first > limit {
        table
            .remove((k, span.first))
            .map_err(|e| fail(format_args!("forgetting a recent {what} id of {key}"), e))?;
        span.first += 1;
    }
    Ok(())
}
