//! Retention: every key's last activity, indexed by time (`activity`
//! table), so the sweeper finds idle keys oldest first by reading only
//! those, and deleting a key removes all of its rows in one transaction.
//!
//! Saves and touches stamp a key exactly; appends stamp it at most once a
//! minute ([`STAMP_EVERY_MS`]), so a busy session does not move its index
//! row on every commit. A live session is never expired whatever its
//! stamp says (the supervisor fences only keys with no live session), and
//! every stop stamps exactly.

use std::time::SystemTime;

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::tables::{fail, from_json, Meta, Tables, ACTIVITY};
use super::RedbStore;
use crate::ids::SessionKey;
use crate::store::{unix_ms, StoreError};

/// How stale an append may leave a key's activity stamp, in ms.
pub(super) const STAMP_EVERY_MS: u64 = 60_000;

/// How exactly [`Tables::stamp`] records an activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stamp {
    /// Always moves the key's row to the new time (save, touch).
    Always,
    /// Moves it only if it is [`STAMP_EVERY_MS`] old or more (append).
    Coarse,
}

impl Tables<'_> {
    /// Records in `meta` and the `activity` index that `key` was active at
    /// `now_ms` (the caller writes `meta`).
    pub(super) fn stamp(
        &mut self,
        key: &SessionKey,
        meta: &mut Meta,
        now_ms: u64,
        how: Stamp,
    ) -> Result<(), StoreError> {
        let fresh = now_ms.saturating_sub(meta.active_ms) < STAMP_EVERY_MS;
        if meta.active_ms != 0 && how == Stamp::Coarse && fresh {
            return Ok(());
        }
        let k = key.as_str();
        if meta.active_ms != 0 {
            self.activity
                .remove((meta.active_ms, k))
                .map_err(|e| fail(format_args!("moving the activity of {key}"), e))?;
        }
        self.activity
            .insert((now_ms, k), ())
            .map_err(|e| fail(format_args!("writing the activity of {key}"), e))?;
        meta.active_ms = now_ms;
        Ok(())
    }

    /// Deletes every row of `key`, whose meta is `meta`.
    fn delete_key(&mut self, key: &SessionKey, meta: &Meta) -> Result<(), StoreError> {
        self.clear_key(key)?;
        let k = key.as_str();
        let gone = |what: &str, e: redb::StorageError| {
            fail(format_args!("deleting the {what} of {key}"), e)
        };
        self.checkpoints
            .remove(k)
            .map_err(|e| gone("checkpoint", e))?;
        self.activity
            .remove((meta.active_ms, k))
            .map_err(|e| gone("activity", e))?;
        self.meta.remove(k).map_err(|e| gone("meta", e))?;
        Ok(())
    }
}

impl RedbStore {
    /// See [`crate::store::SessionStore::idle_before`]: reads at most `limit`
    /// rows of the `activity` index.
    pub(super) fn idle_keys(
        &self,
        cutoff: SystemTime,
        limit: usize,
    ) -> Result<Vec<SessionKey>, StoreError> {
        let what = "listing idle sessions";
        let txn = self.begin_read(what)?;
        let table = txn.open_table(ACTIVITY).map_err(|e| fail(what, e))?;
        let mut keys = Vec::new();
        let range = table
            .range((0, "")..(unix_ms(cutoff), ""))
            .map_err(|e| fail(what, e))?;
        for row in range.take(limit) {
            let (id, _) = row.map_err(|e| fail(what, e))?;
            let (_, k) = id.value();
            match SessionKey::parse(k) {
                Ok(key) => keys.push(key),
                Err(e) => {
                    tracing::error!(error = %e, "an activity row has an invalid session key; skipped")
                }
            }
        }
        Ok(keys)
    }

    /// See [`crate::store::SessionStore::recent`]: the `activity` index
    /// read backwards, newest first.
    pub(super) fn recent_keys(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(SessionKey, u64)>, StoreError> {
        let what = "listing recent sessions";
        let txn = self.begin_read(what)?;
        let table = txn.open_table(ACTIVITY).map_err(|e| fail(what, e))?;
        let mut rows = Vec::new();
        let range = table.iter().map_err(|e| fail(what, e))?;
        for row in range.rev().skip(offset).take(limit) {
            let (id, _) = row.map_err(|e| fail(what, e))?;
            let (at, k) = id.value();
            match SessionKey::parse(k) {
                Ok(key) => rows.push((key, at)),
                Err(e) => {
                    tracing::error!(error = %e, "an activity row has an invalid session key; skipped")
                }
            }
        }
        Ok(rows)
    }

    /// Deletes every row of `key` in one transaction; with `cutoff`, only
    /// if its last activity is older. Returns whether it was deleted.
    pub(super) fn delete_session(
        &self,
        key: &SessionKey,
        cutoff: Option<SystemTime>,
    ) -> Result<bool, StoreError> {
        let what = format!("deleting {key}");
        let txn = self.begin_write(&what)?;
        {
            let mut t = Tables::open(&txn)?;
            let Some(meta) = t.read_meta(key)? else {
                return Ok(false);
            };
            if cutoff.is_some_and(|c| meta.active_ms >= unix_ms(c)) {
                return Ok(false);
            }
            t.delete_key(key, &meta)?;
        }
        self.commit(txn, &what).map(|()| true)
    }

    /// Stamps `key` active now (if it is kept).
    pub(super) fn touch_session(&self, key: &SessionKey) -> Result<(), StoreError> {
        let what = format!("touching {key}");
        let txn = self.begin_write(&what)?;
        {
            let mut t = Tables::open(&txn)?;
            let Some(mut meta) = t.read_meta(key)? else {
                return Ok(());
            };
            t.stamp(key, &mut meta, unix_ms(SystemTime::now()), Stamp::Always)?;
            t.write_meta(key, &meta)?;
        }
        self.commit(txn, &what)
    }
}

/// At open: stamps, as active now, every key whose meta has no activity
/// yet (a database written before retention), so it is kept a whole TTL
/// from the upgrade. Reads the meta table only when the index is short.
pub(super) fn stamp_unstamped(txn: &WriteTransaction) -> Result<(), StoreError> {
    let what = "indexing the activity of saved sessions";
    let mut t = Tables::open(txn)?;
    let metas = t.meta.len().map_err(|e| fail(what, e))?;
    let stamped = t.activity.len().map_err(|e| fail(what, e))?;
    if stamped >= metas {
        return Ok(());
    }
    let mut missing = Vec::new();
    for row in t.meta.iter().map_err(|e| fail(what, e))? {
        let (k, v) = row.map_err(|e| fail(what, e))?;
        let meta: Meta = from_json(format_args!("meta of {}", k.value()), v.value())?;
        if meta.active_ms == 0 {
            match SessionKey::parse(k.value()) {
                Ok(key) => missing.push((key, meta)),
                Err(e) => {
                    tracing::error!(error = %e, "a meta row has an invalid session key; skipped")
                }
            }
        }
    }
    let now = unix_ms(SystemTime::now());
    for (key, mut meta) in missing {
        t.stamp(&key, &mut meta, now, Stamp::Always)?;
        t.write_meta(&key, &meta)?;
    }
    Ok(())
}
