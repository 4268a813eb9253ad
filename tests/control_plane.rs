//! The supervisor only decides; slow work happens elsewhere: a session
//! loads itself off every actor thread (joins of other keys are answered
//! while one key's load is held), `authorize` runs on the tab's side (a
//! slow authorize holds up only its own join), and a takeover is fenced by
//! connection age (an older connection's late join never closes the newer
//! one).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Condvar, Mutex};

use common::{new_key, start_server, Client, WAIT};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::{
    App, AppError, AuthorizeError, Config, Context, JoinRequest, MemoryStore, SavedSession,
    SessionKey, Store, StoreError,
};
use tokio::sync::Notify;

/// A gate a blocking call waits at until the test opens it. `entered` is
/// notified when a call arrives at the gate.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    opened_async: Notify,
    entered: Notify,
}

impl Gate {
    fn wait(&self) {
        self.entered.notify_one();
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    /// As [`Gate::wait`], for async code: awaits instead of blocking.
    async fn pass(&self) {
        self.entered.notify_one();
        loop {
            let opened = self.opened_async.notified();
            if *self.open.lock().unwrap() {
                return;
            }
            opened.await;
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
        self.opened_async.notify_waiters();
    }

    async fn entered(&self) {
        tokio::time::timeout(WAIT, self.entered.notified())
            .await
            .expect("nothing reached the gate");
    }
}

/// A memory store whose loads of one key wait at a gate, then fail if told.
struct HeldLoads {
    inner: MemoryStore,
    held: SessionKey,
    gate: Gate,
    fail: Mutex<bool>,
}

impl HeldLoads {
    fn new(held: &str) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryStore::new(),
            held: SessionKey::parse(held).unwrap(),
            gate: Gate::default(),
            fail: Mutex::new(false),
        })
    }
}

impl Store for HeldLoads {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        if key == &self.held {
            self.gate.wait();
            if *self.fail.lock().unwrap() {
                return Err(StoreError::backend("the disk is gone").for_key(key));
            }
        }
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.inner.save(key, session)
    }
}

/// A demo server whose store holds the load of one fresh key at a gate.
fn held_key_server() -> (String, Arc<HeldLoads>, common::Server<Demo>) {
    let held = new_key();
    let store = HeldLoads::new(&held);
    let server = start_server(Demo::default(), Config::default(), store.clone());
    (held, store, server)
}

/// Tabs `a` then `b` join the held key; both joins wait for its load.
/// Returns each client with its join's ref.
async fn two_joins_waiting_for_the_load(
    server: &common::Server<Demo>,
    store: &HeldLoads,
    held: &str,
) -> (Client, String, Client, String) {
    let mut a = Client::connect(server, "a").await;
    let mut b = Client::connect(server, "b").await;
    let ra = a.send_join(held, json!({"cursor": null})).await;
    store.gate.entered().await;
    let rb = b.send_join(held, json!({"cursor": null})).await;
    (a, ra, b, rb)
}

#[actix_rt::test]
async fn while_one_keys_load_is_held_joins_of_other_keys_are_answered_and_its_own_wait_in_order() {
    let (held, store, server) = held_key_server();
    let (mut a, ra, mut b, rb) = two_joins_waiting_for_the_load(&server, &store, &held).await;

    // Other keys, on other connections and on the waiting ones, go on.
    let mut c = Client::connect(&server, "c").await;
    assert_eq!(c.join(&new_key(), None).await["seq"], 0);
    assert_eq!(a.join(&new_key(), None).await["tabs"], 1);
    a.assert_silent_for(100).await;
    b.assert_silent_for(100).await;

    store.gate.open();
    let reply_a = a.reply(&ra).await;
    let reply_b = b.reply(&rb).await;
    assert_eq!(reply_a["status"], "ok", "{reply_a}");
    assert_eq!(reply_a["response"]["tabs"], 1, "a's join was handled first");
    assert_eq!(
        reply_b["response"]["tabs"], 2,
        "b's join was handled second"
    );
}

#[actix_rt::test]
async fn every_join_that_waited_for_a_failed_load_gets_store_error_and_a_later_join_loads_again() {
    let (held, store, server) = held_key_server();
    let (mut a, ra, mut b, rb) = two_joins_waiting_for_the_load(&server, &store, &held).await;
    *store.fail.lock().unwrap() = true;
    store.gate.open();
    for (client, r) in [(&mut a, &ra), (&mut b, &rb)] {
        let reply = client.reply(r).await;
        assert_eq!(reply["status"], "error", "{reply}");
        assert_eq!(reply["response"]["reason"], "store_error");
    }
    *store.fail.lock().unwrap() = false;
    let again = a.join_with(&held, json!({"cursor": null})).await;
    assert_eq!(
        again["status"], "ok",
        "a fresh session loads again: {again}"
    );
    assert_eq!(server.hub.stats().await.unwrap().sessions, 1);
}

/// Counts; its authorize awaits a gate for one key.
struct SlowAuth(Arc<SlowKey>);

struct SlowKey {
    key: SessionKey,
    gate: Gate,
}

#[derive(Default, Serialize, Deserialize)]
struct Count {
    n: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum Bump {
    Bump {},
}

impl App for SlowAuth {
    type State = Count;
    type Event = Bump;
    type Identity = ();
    async fn authorize(&self, join: &JoinRequest<'_>) -> Result<(), AuthorizeError> {
        if join.key == &self.0.key {
            self.0.gate.pass().await;
        }
        Ok(())
    }
    async fn handle(
        &self,
        state: &mut Count,
        _: Bump,
        _: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        state.n += 1;
        Ok(())
    }
}

#[actix_rt::test]
async fn a_slow_authorize_delays_only_the_join_it_decides() {
    let slow = new_key();
    let app = Arc::new(SlowKey {
        key: SessionKey::parse(&slow).unwrap(),
        gate: Gate::default(),
    });
    let server = start_server(
        SlowAuth(app.clone()),
        Config::default(),
        Arc::new(MemoryStore::new()),
    );
    let mut a = Client::connect(&server, "a").await;
    let r_slow = a.send_join(&slow, json!({"cursor": null})).await;
    app.gate.entered().await;

    // Joins of other keys, on another connection and on the same one, and
    // the same connection's other frames are answered meanwhile.
    let mut b = Client::connect(&server, "b").await;
    let fast = new_key();
    b.join(&fast, None).await;
    assert_eq!(
        b.event(&fast, "bump", json!({})).await["response"]["seq"],
        1
    );
    a.join(&new_key(), None).await;
    let hb = a.push("phoenix", "heartbeat", json!({})).await;
    assert_eq!(a.reply(&hb).await["status"], "ok");
    a.assert_silent_for(100).await;

    app.gate.open();
    let reply = a.reply(&r_slow).await;
    assert_eq!(reply["status"], "ok", "{reply}");
}

#[actix_rt::test]
async fn a_late_join_from_an_older_connection_closes_the_older_one_never_the_newer() {
    let (server, _store) = common::start_demo(Config::default());
    let key = new_key();
    let mut older = Client::connect(&server, "page").await;
    let mut newer = Client::connect(&server, "page").await;
    newer.join(&key, None).await;
    older.send_join(&key, json!({"cursor": null})).await;
    assert_eq!(older.expect_close().await, 4001);
    let r = newer
        .event(&key, "add_todo", json!({"text": "still here"}))
        .await;
    assert_eq!(
        r["status"], "ok",
        "the newer connection is still joined: {r}"
    );
    let stats = server.hub.stats().await.unwrap();
    assert_eq!((stats.sessions, stats.tabs), (1, 1));
}

#[actix_rt::test]
async fn in_a_takeover_race_the_tab_always_ends_joined_on_its_newer_connection() {
    let (server, _store) = common::start_demo(Config::default());
    for round in 0..40 {
        let key = new_key();
        let tab = format!("page{round}");
        let mut older = Client::connect(&server, &tab).await;
        let mut newer = Client::connect(&server, &tab).await;
        // Both joins in flight at once, in either order.
        let joined = if round % 2 == 0 {
            older.send_join(&key, json!({"cursor": null})).await;
            newer.send_join(&key, json!({"cursor": null})).await
        } else {
            let r = newer.send_join(&key, json!({"cursor": null})).await;
            older.send_join(&key, json!({"cursor": null})).await;
            r
        };
        assert_eq!(older.expect_close().await, 4001, "round {round}");
        let reply = newer.reply(&joined).await;
        assert_eq!(reply["status"], "ok", "round {round}: {reply}");
        let r = newer.event(&key, "add_todo", json!({"text": "x"})).await;
        assert_eq!(r["status"], "ok", "round {round}: {r}");
    }
}
