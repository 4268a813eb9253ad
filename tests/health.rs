//! `GET /healthz`: 200 `{"status": "ok"}`; 503 `{"status": "unhealthy",
//! "reason": "store"}` after a group commit failed for every step it
//! carried, and 200 again after one succeeds; 503 `{"status": "draining"}`
//! from the moment `Hub::shutdown` begins. `GET /readyz` answers the same;
//! `GET /livez` is 200 `{"status": "alive"}` throughout, since neither a
//! failing store nor a shutdown under way is a reason to restart.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use common::{new_key, start_server, Client, Server};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::{
    App, Config, Health, LoggedSession, MemoryStore, RedbOptions, RedbStore, SavedSession,
    SessionKey, SessionStore, Step, StepLog, StoreError,
};

/// A directory removed at the end of the test.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn redb() -> (RedbStore, TempDir) {
    let dir = std::env::temp_dir().join(format!("tabhub-health-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = RedbStore::open(RedbOptions {
        path: dir.join("sessions.redb"),
        recent_events: 64,
    })
    .unwrap();
    (store, TempDir(dir))
}

/// A store whose appends fail while `failing` is set (over redb: durable,
/// so every step goes through the commit thread), and whose saves wait
/// while `saves_held` is set (over memory: sessions are saved whole when
/// they stop).
struct FlakyDisk {
    inner: Box<dyn SessionStore>,
    failing: AtomicBool,
    saves_held: Mutex<bool>,
    released: Condvar,
}

impl FlakyDisk {
    fn new(inner: impl SessionStore) -> Self {
        Self {
            inner: Box::new(inner),
            failing: AtomicBool::new(false),
            saves_held: Mutex::new(false),
            released: Condvar::new(),
        }
    }

    fn hold_saves(&self, held: bool) {
        *self.saves_held.lock().unwrap() = held;
        self.released.notify_all();
    }
}

impl FlakyDisk {
    /// The inner store's step log (the hub asks for one only if it has one).
    fn log(&self) -> Result<&dyn StepLog, StoreError> {
        self.inner
            .step_log()
            .ok_or_else(|| StoreError::unsupported("the inner store has no step log"))
    }
}

impl SessionStore for FlakyDisk {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        let mut held = self.saves_held.lock().unwrap();
        while *held {
            held = self.released.wait(held).unwrap();
        }
        self.inner.save(key, session)
    }
    fn step_log(&self) -> Option<&dyn StepLog> {
        self.inner.step_log().map(|_| self as &dyn StepLog)
    }
}

impl StepLog for FlakyDisk {
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::backend("no space left on device"));
        }
        self.log()?.append(steps)
    }
    fn load_steps(&self, key: &SessionKey) -> Result<Option<LoggedSession>, StoreError> {
        self.log()?.load_steps(key)
    }
}

async fn healthz<A: App>(server: &Server<A>) -> (u16, Value) {
    let answer = get(server, "/healthz").await;
    assert_eq!(get(server, "/readyz").await, answer, "/readyz is /healthz");
    answer
}

/// `GET /livez`: 200 alive whatever the store or a shutdown does.
async fn assert_alive<A: App>(server: &Server<A>) {
    assert_eq!(
        get(server, "/livez").await,
        (200, json!({"status": "alive"}))
    );
}

async fn get<A: App>(server: &Server<A>, path: &str) -> (u16, Value) {
    let mut got = awc::Client::default()
        .get(server.srv.url(path))
        .send()
        .await
        .unwrap();
    let body: Value = got.json().await.unwrap();
    (got.status().as_u16(), body)
}

#[actix_rt::test]
async fn healthz_is_unhealthy_while_the_store_cannot_commit_and_ok_once_it_can() {
    let (redb, _dir) = redb();
    let store = Arc::new(FlakyDisk::new(redb));
    let server = start_server(Demo::default(), Config::default(), store.clone());
    assert_eq!(healthz(&server).await, (200, json!({"status": "ok"})));

    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let r = a.event(&key, "add_todo", json!({"text": "kept"})).await;
    assert_eq!(r["status"], "ok", "{r}");

    // The disk fails: the step is never acknowledged, the tab is told to
    // rejoin, and the health check says why.
    store.failing.store(true, Ordering::SeqCst);
    a.push(
        &topic,
        "event",
        json!({"id": "lost", "name": "add_todo", "payload": {"text": "x"}}),
    )
    .await;
    a.wait_event(&topic, "phx_error").await;
    assert_eq!(
        healthz(&server).await,
        (503, json!({"status": "unhealthy", "reason": "store"}))
    );
    assert_eq!(server.hub.health(), Health::StoreFailing);
    assert_alive(&server).await;
    let metrics = server.hub.metrics_text().await;
    assert!(
        !metrics.contains("tabhub_commits_total{outcome=\"error\"} 0"),
        "failed commits are counted:\n{metrics}"
    );

    // The disk is back: the rejoined session commits, and health is back.
    store.failing.store(false, Ordering::SeqCst);
    let joined = a.join(&key, None).await;
    assert_eq!(joined["seq"], 1, "what was acknowledged is kept: {joined}");
    let r = a.event(&key, "add_todo", json!({"text": "again"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(healthz(&server).await, (200, json!({"status": "ok"})));
    assert_eq!(server.hub.health(), Health::Ok);
}

#[actix_rt::test]
async fn healthz_says_draining_from_the_moment_shutdown_begins() {
    let store = Arc::new(FlakyDisk::new(MemoryStore::new()));
    let server = start_server(Demo::default(), Config::default(), store.clone());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let r = a.event(&key, "add_todo", json!({"text": "to save"})).await;
    assert_eq!(r["status"], "ok", "{r}");

    // Shutdown saves the session, and the save waits: shutdown is under
    // way and cannot finish.
    store.hold_saves(true);
    let hub = server.hub.clone();
    let shutdown = actix_rt::spawn(async move { hub.shutdown().await });
    common::eventually("shutdown to begin", async || {
        server.hub.health() == Health::Draining
    })
    .await;
    assert_eq!(healthz(&server).await, (503, json!({"status": "draining"})));
    assert_alive(&server).await;
    assert_eq!(a.expect_close().await, 1012, "sockets are closed meanwhile");
    assert!(!shutdown.is_finished(), "the save still waits");

    store.hold_saves(false);
    tokio::time::timeout(common::WAIT, shutdown)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(healthz(&server).await, (503, json!({"status": "draining"})));
    assert!(store
        .inner
        .load(&SessionKey::parse(&key).unwrap())
        .unwrap()
        .is_some());
    // The supervisor is gone: the registry's gauges read 0, and a scrape
    // still answers.
    let metrics = server.hub.metrics_text().await;
    assert!(metrics.contains("tabhub_sessions_live 0"), "{metrics}");
}
