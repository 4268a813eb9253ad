//! A stopping session writes itself to the store only if something changed
//! since it was loaded or last saved.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{new_key, start_server, Client, WAIT};
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::{Config, Hub, MemoryStore, SavedSession, SessionKey, Store, StoreError};

/// A memory store that counts whole-session saves.
#[derive(Default)]
struct CountingSaves {
    inner: MemoryStore,
    saves: AtomicUsize,
}

impl Store for CountingSaves {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save(key, session)
    }
}

/// Waits until the hub has no live session (the grace time ran out).
async fn all_stopped(hub: &Hub<Demo>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while hub.stats().await.unwrap().sessions > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sessions did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
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
    all_stopped(&server.hub).await;
}

#[actix_rt::test]
async fn a_session_stopped_with_nothing_changed_since_its_last_save_is_not_written_again() {
    let store = Arc::new(CountingSaves::default());
    let config = Config {
        grace: Duration::from_millis(50),
        ..Config::default()
    };
    let server = start_server(Demo, config, store.clone());
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
