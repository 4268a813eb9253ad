//! A stopping session writes itself to the store only if something changed
//! since it was loaded or last saved; with a durable store its committed
//! steps are the record, and a stop writes nothing whole.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::node::TempDir;
use common::{new_key, start_server, until_no_session, Client};
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::{
    Config, LoggedSession, MemoryStore, RedbOptions, RedbStore, SavedSession, SessionKey,
    SessionStore, Step, StepLog, StoreError,
};

/// A store that counts whole-session saves and appended batches, and
/// passes everything on to `inner`.
struct Counting<S> {
    inner: S,
    saves: AtomicUsize,
    appends: AtomicUsize,
}

impl<S> Counting<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            saves: AtomicUsize::new(0),
            appends: AtomicUsize::new(0),
        }
    }
}

impl<S: SessionStore> Counting<S> {
    /// The inner store's step log (the hub asks for one only if it has one).
    fn log(&self) -> Result<&dyn StepLog, StoreError> {
        self.inner
            .step_log()
            .ok_or_else(|| StoreError::unsupported("the inner store has no step log"))
    }
}

impl<S: SessionStore> SessionStore for Counting<S> {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save(key, session)
    }
    fn touch(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.inner.touch(key)
    }
    fn step_log(&self) -> Option<&dyn StepLog> {
        self.inner.step_log().map(|_| self as &dyn StepLog)
    }
}

impl<S: SessionStore> StepLog for Counting<S> {
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.log()?.append(steps)
    }
    fn load_steps(&self, key: &SessionKey) -> Result<Option<LoggedSession>, StoreError> {
        self.log()?.load_steps(key)
    }
}

/// Joins, optionally adds a todo, leaves; returns once the session stopped.
async fn visit(server: &common::Server<Demo>, key: &str, change: bool) {
    let mut a = Client::connect(server, "a").await;
    a.join(key, None).await;
    if change {
        let r = a.event(key, "add_todo", json!({"text": "x"})).await;
        assert_eq!(r["status"], "ok");
    }
    let leave = a
        .push(&format!("session:{key}"), "phx_leave", json!({}))
        .await;
    a.reply(&leave).await;
    until_no_session(&server.hub).await;
}

#[actix_rt::test]
async fn a_session_stopped_with_nothing_changed_since_its_last_save_is_not_written_again() {
    let store = Arc::new(Counting::new(MemoryStore::new()));
    let mut config = Config::default();
    config.grace = Duration::from_millis(50);
    let server = start_server(Demo::default(), config, store.clone());
    let key = new_key();
    visit(&server, &key, true).await;
    assert_eq!(store.saves.load(Ordering::SeqCst), 1, "changed: saved");
    visit(&server, &key, false).await;
    assert_eq!(
        store.saves.load(Ordering::SeqCst),
        1,
        "loaded and stopped unchanged: not written again"
    );
    visit(&server, &key, true).await;
    assert_eq!(
        store.saves.load(Ordering::SeqCst),
        2,
        "changed again: saved"
    );
    let untouched = new_key();
    visit(&server, &untouched, false).await;
    assert_eq!(
        store.saves.load(Ordering::SeqCst),
        3,
        "a new key is written at its first stop, changed or not"
    );
    visit(&server, &untouched, false).await;
    assert_eq!(
        store.saves.load(Ordering::SeqCst),
        3,
        "and not again while nothing changes"
    );
}

#[actix_rt::test]
async fn with_the_durable_store_the_committed_steps_are_the_record_and_a_stop_writes_nothing_whole()
{
    let dir = TempDir::new("tabhub-saves");
    let redb = RedbStore::open(RedbOptions {
        path: dir.0.join("sessions.redb"),
        recent_events: 16,
    })
    .unwrap();
    let store = Arc::new(Counting::new(redb));
    let mut config = Config::default();
    config.grace = Duration::from_millis(50);
    let server = start_server(Demo::default(), config, store.clone());
    let key = new_key();
    visit(&server, &key, true).await;
    visit(&server, &key, false).await;
    visit(&server, &key, true).await;
    assert!(
        store.appends.load(Ordering::SeqCst) > 0,
        "steps were appended"
    );
    assert_eq!(
        store.saves.load(Ordering::SeqCst),
        0,
        "new, changed or unchanged: its steps hold it all, nothing is written again at a stop"
    );
    // A new key that only saw a join is on record too, by its first step
    // (written before its join reply, so its epoch is kept): no save.
    let fresh = new_key();
    visit(&server, &fresh, false).await;
    visit(&server, &fresh, false).await;
    assert_eq!(store.saves.load(Ordering::SeqCst), 0);
    // And what the steps wrote is the session: it loads as it was.
    let saved = store
        .load(&SessionKey::parse(&key).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (saved.seq, saved.state["todos"][1]["text"].clone()),
        (2, json!("x"))
    );
    assert!(store
        .load(&SessionKey::parse(&fresh).unwrap())
        .unwrap()
        .is_some());
}
