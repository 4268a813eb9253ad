//! Unit tests of [`RedbStore`] on real database files in the temp dir, and
//! the helpers they share: steps as a session with an unbounded journal
//! would hand them over, unless a test names another journal window.
//!
//! - `append.rs`: appending steps (round trip, group commit, the contract).
//! - `journal.rs`: which deltas are kept (the rebuild's, the step's window).
//! - `save.rs`: whole-session saves, summaries and corrupt records.
//! - `retention.rs`: last activity, idle keys, deleting a key.

mod append;
mod journal;
mod retention;
mod save;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use redb::TableDefinition;
use serde_json::json;
use serde_json::value::RawValue;

use super::tables::{DELTAS, RECENT_CHAINS, RECENT_EVENTS};
use super::{RedbOptions, RedbStore};
use crate::ids::{ChainId, Epoch, SessionKey};
use crate::store::{
    Outcome, SavedChain, SavedDelta, SavedSession, SessionStore, Step, StepLog, StoreError,
};

/// A database file in the temp dir, removed on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!(
            "tabhub-redb-test-{}-{n}-{name}/sessions.redb",
            std::process::id()
        )))
    }

    fn options(&self) -> RedbOptions {
        RedbOptions {
            path: self.0.clone(),
            recent_events: 100,
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn open(options: RedbOptions) -> RedbStore {
    RedbStore::open(options).unwrap_or_else(|e| panic!("{e}"))
}

fn key(c: char) -> SessionKey {
    SessionKey::parse(&c.to_string().repeat(24)).unwrap_or_else(|e| panic!("{e}"))
}

fn ok<T>(r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn load(store: &RedbStore, k: &SessionKey) -> SavedSession {
    ok(store.load(k)).unwrap_or_else(|| panic!("{k} not found"))
}

/// A `delta` payload setting `/n` to `seq`.
fn delta(seq: u64) -> SavedDelta {
    let payload = json!({
        "seq": seq,
        "patch": [{"op": "replace", "path": "/n", "value": seq}],
        "event_id": format!("ev{seq}"),
    });
    raw_delta(seq, payload.to_string())
}

/// A [`SavedDelta`] of `seq` with `text` as its payload.
fn raw_delta(seq: u64, text: String) -> SavedDelta {
    let raw = RawValue::from_string(text).unwrap_or_else(|e| panic!("{e}"));
    SavedDelta {
        seq,
        payload: Arc::from(raw),
    }
}

/// A step at `seq` that changed nothing, from a session whose journal
/// holds every delta since seq 1 (`journal_from` 1).
fn step(k: &SessionKey, epoch: &Epoch, seq: u64) -> Step {
    Step {
        journal_from: 1,
        ..Step::new(k.clone(), epoch.clone(), seq)
    }
}

/// The first step of a key: its initial state `{"n": 0}` at seq 0.
fn first(k: &SessionKey, epoch: &Epoch) -> Step {
    Step {
        checkpoint: Some(json!({"n": 0})),
        ..step(k, epoch, 0)
    }
}

/// A step applying `delta(seq)`, handling event `ev{seq}`.
fn delta_step(k: &SessionKey, epoch: &Epoch, seq: u64) -> Step {
    Step {
        deltas: vec![delta(seq)],
        event: Some((format!("ev{seq}"), Outcome::Ok { seq, data: None })),
        ..step(k, epoch, seq)
    }
}

fn seqs(journal: &[SavedDelta]) -> Vec<u64> {
    journal.iter().map(|d| d.seq).collect()
}

fn chain(id: &str) -> SavedChain {
    SavedChain {
        chain: ChainId::new(id),
        name: format!("next_{id}"),
        payload: json!({"id": id}),
    }
}

/// Number of rows of `key` in a table keyed by (key, number).
fn rows(store: &RedbStore, def: TableDefinition<(&str, u64), &[u8]>, key: &SessionKey) -> usize {
    let txn = store.begin_read("test").unwrap_or_else(|e| panic!("{e}"));
    let table = txn.open_table(def).unwrap_or_else(|e| panic!("{e}"));
    let k = key.as_str();
    table
        .range((k, 0)..=(k, u64::MAX))
        .unwrap_or_else(|e| panic!("{e}"))
        .count()
}

/// Number of delta rows kept for `key` (disk use is bounded).
fn delta_rows(store: &RedbStore, key: &SessionKey) -> usize {
    rows(store, DELTAS, key)
}

/// Number of recent event rows and recent chain rows kept for `key`.
fn recent_rows(store: &RedbStore, key: &SessionKey) -> (usize, usize) {
    (
        rows(store, RECENT_EVENTS, key),
        rows(store, RECENT_CHAINS, key),
    )
}
