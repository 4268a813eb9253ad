//! Summary joins are kept in one place at a time (docs/architecture.md,
//! "The session's facts and their one writer"): by the key's live session,
//! or by the supervisor while the key has none. These tests build the
//! moments the list changes hands, and the races around them, on purpose.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use serde_json::{json, Value};
use tokio::time::advance;

use super::{Hub, Tab, GRACE, MS};
use crate::ids::SessionKey;
use crate::messages::testing::{Flush, Patience, Seen};
use crate::messages::StopOutcome;
use crate::store::{MemoryStore, SavedSession, SessionStore, StoreError};

impl Tab {
    /// Waits for the reply to the summary join sent last; its `response`.
    async fn watched(&mut self) -> Value {
        match self.next("the summary join's reply").await {
            Seen::Joined(None, response) => response,
            _ => panic!("the summary join was not answered with its reply"),
        }
    }

    /// Waits for the next `summary` push; its summary. Any other delivery
    /// first (a second join reply) fails the test.
    async fn next_summary(&mut self) -> Value {
        match self.next("a summary push").await {
            Seen::Push("summary", payload) => payload["summary"].clone(),
            _ => panic!("something else came before the summary push"),
        }
    }

    /// Asserts that nothing more was delivered to this tab, once the
    /// supervisor handled what it had to and the tab recorded it all.
    async fn assert_nothing_more(&mut self, hub: &Hub, what: &str) {
        for _ in 0..5 {
            hub.stats().await;
        }
        self.recorder.send(Flush).await.expect("the recorder runs");
        assert!(self.seen.try_recv().is_err(), "{what}");
    }
}

#[actix_rt::test]
async fn a_summary_join_outlives_its_sessions_grace_stop_and_hears_the_next_session() {
    tokio::time::pause();
    let hub = Hub::start();
    let mut tab = Tab::new("a");
    tab.join(&hub).await;
    let mut w = Tab::new("w");
    w.send_watch(&hub).await;
    assert_eq!(
        w.watched().await["summary"],
        Value::Null,
        "answered by the live session"
    );
    tab.submit("summarize", json!({"n": 1})).await;
    assert_eq!(w.next_summary().await, json!({"n": 1}));
    assert_eq!(hub.stats().await.summary_joins, 1);

    tab.leave(&hub).await;
    advance(GRACE + MS).await;
    hub.until_stopped().await;
    assert_eq!(
        hub.stats().await.summary_joins,
        1,
        "the stopped session handed its summary join back"
    );

    tab.join(&hub).await;
    tab.submit("summarize", json!({"n": 2})).await;
    assert_eq!(
        w.next_summary().await,
        json!({"n": 2}),
        "the new session took it"
    );
    assert_eq!(hub.stats().await.summary_joins, 1, "counted once");

    w.leave(&hub).await;
    assert!(tab.session_answers().await, "the session handled the leave");
    assert_eq!(hub.stats().await.summary_joins, 0);
}

#[actix_rt::test]
async fn a_summary_join_that_ends_while_its_session_stops_is_not_handed_back() {
    let hub = Hub::start();
    let mut tab = Tab::new("a");
    tab.join(&hub).await;
    let mut w = Tab::new("w");
    w.send_watch(&hub).await;
    w.watched().await;
    tab.leave(&hub).await;

    // The grace timer's stop, taken apart: the session stops, and its
    // answer reaches the supervisor only after the summary join's leave
    // did (which the stopped session never handled).
    let (stopped, incarnation) = hub.stop_as_the_grace_timer_would().await;
    assert!(
        matches!(&stopped, Ok(StopOutcome::Stopped(list)) if !list.is_empty()),
        "the session hands its summary join back: {stopped:?}"
    );
    w.leave(&hub).await;

    let key = hub.key.clone();
    let kept = hub
        .poke(move |sup, ctx| {
            sup.stop_answered(key, incarnation, stopped, ctx);
            sup.watchers.len()
        })
        .await;
    assert_eq!(kept, 0, "no key keeps a summary join that ended");
    assert_eq!(hub.stats().await.summary_joins, 0);
}

/// A store whose first summary read waits until the test releases it,
/// and then returns a summary no session has.
struct HeldSummary {
    memory: Arc<MemoryStore>,
    gate: Mutex<Option<std_mpsc::Receiver<()>>>,
    read: AtomicBool,
}

const FROM_THE_STORE: &str = "read before the session started";

impl SessionStore for HeldSummary {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.memory.load(key)
    }

    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.memory.save(key, session)
    }

    fn load_summary(&self, _key: &SessionKey) -> Result<Option<Value>, StoreError> {
        let gate = self.gate.lock().ok().and_then(|mut g| g.take());
        if let Some(gate) = gate {
            let _ = gate.recv();
        }
        self.read.store(true, Ordering::SeqCst);
        Ok(Some(json!(FROM_THE_STORE)))
    }
}

#[actix_rt::test]
async fn a_session_that_starts_while_a_summary_is_read_takes_the_join_and_answers_it_once() {
    let (release, gate) = std_mpsc::channel();
    let memory = Arc::new(MemoryStore::new());
    let store = Arc::new(HeldSummary {
        memory: memory.clone(),
        gate: Mutex::new(Some(gate)),
        read: AtomicBool::new(false),
    });
    let hub = Hub::start_on(store.clone(), memory);

    // No live session: the supervisor keeps the join and reads the
    // summary, which the store holds back.
    let mut w = Tab::new("w");
    w.send_watch(&hub).await;
    assert_eq!(
        hub.stats().await.sessions,
        0,
        "a summary join starts no session"
    );
    assert_eq!(hub.stats().await.summary_joins, 1);

    // A tab starts the session meanwhile: it takes the join along and
    // answers it from what it loaded.
    let mut tab = Tab::new("a");
    tab.join(&hub).await;
    assert_eq!(
        w.watched().await["summary"],
        Value::Null,
        "answered by the session"
    );

    // The store's read ends after that: it answers nobody.
    release.send(()).expect("the read waits for the gate");
    let patience = Patience::new("the summary read to end");
    while !store.read.load(Ordering::SeqCst) {
        patience.wait().await;
    }
    w.assert_nothing_more(&hub, "one reply per summary join")
        .await;

    tab.submit("summarize", json!({"n": 1})).await;
    assert_eq!(
        w.next_summary().await,
        json!({"n": 1}),
        "the session keeps the join"
    );
    assert_eq!(hub.stats().await.summary_joins, 1);
}
