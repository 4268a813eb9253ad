//! The grace timer on paused time (docs/protocol.md section 12.1
//! (lifetime)): after its last tab leaves, a session lives for the grace
//! time and is then saved and stopped; a join during the grace time cancels
//! it; and the last task ending with no tab joined starts the grace time
//! afresh.
//!
//! The control plane and the data plane run on the test's own actix
//! System: the supervisor has no session threads, so it starts sessions on
//! the current one. Tabs are recorder actors whose joins and leaves go
//! straight to the supervisor. The clock moves only by
//! `tokio::time::advance`; waiting for what the actors and the blocking
//! pool do never moves it (see [`Patience`]).

use crate::messages::testing::{Patience, Recorder, Seen};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::advance;

use super::{HubStats, Stats, Supervisor};
use crate::app::{App, AppError, Context as AppContext, TaskEnd};
use crate::config::Config;
use crate::ids::{ConnId, SessionKey, TabId};
use crate::messages::{ActivityClock, Cancel, Join, Leave, SessionLink, Submit, TabAddr, TabInbox};
use crate::protocol::message::{EventPayload, JoinMode, Visibility};
use crate::store::{MemoryStore, SessionStore};

mod parked;
mod watch;

const GRACE: Duration = Duration::from_secs(10);
/// How long the background task of the grace-restart test runs.
const JOB: Duration = Duration::from_secs(6);
/// The timer wheel's resolution: a timer due at `t` has fired once the
/// clock is past `t` by this, and not before `t`.
const MS: Duration = Duration::from_millis(1);

/// `summarize {n}` sets the summary `{"n": n}`.
/// `work {ms}` starts task `work`, which sleeps `ms` (tokio time, so the
/// paused clock reaches it) and then counts itself in the state. The app
/// counts the tasks that ended, so a test can wait for an end.
struct Worker {
    ended: Arc<AtomicU32>,
}

#[derive(Default, Serialize, Deserialize)]
struct Work {
    done: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum WorkerEvent {
    Work { ms: u64 },
    Summarize { n: u32 },
}

impl App for Worker {
    type State = Work;
    type Event = WorkerEvent;
    type Identity = ();

    async fn handle(
        &self,
        _state: &mut Work,
        event: WorkerEvent,
        cx: &mut AppContext<'_, Self>,
    ) -> Result<(), AppError> {
        let ms = match event {
            WorkerEvent::Work { ms } => ms,
            WorkerEvent::Summarize { n } => {
                cx.set_summary(json!({ "n": n }));
                return Ok(());
            }
        };
        cx.spawn_task("work", move |task| async move {
            actix_rt::time::sleep(Duration::from_millis(ms)).await;
            task.update(|state: &mut Work, _cx| {
                state.done += 1;
                Ok(())
            })
            .await??;
            Ok(())
        })
    }

    fn task_ended(&self, _: &mut Work, _: &str, _: &TaskEnd, _: &mut AppContext<'_, Self>) {
        self.ended.fetch_add(1, Ordering::Relaxed);
    }
}

/// The supervisor, its store, and the one session key the tests use.
struct Hub {
    supervisor: Addr<Supervisor<Worker>>,
    store: Arc<MemoryStore>,
    key: SessionKey,
    clock: ActivityClock,
    tasks_ended: Arc<AtomicU32>,
}

impl Hub {
    fn start() -> Self {
        let store = Arc::new(MemoryStore::new());
        Self::start_on(store.clone(), store)
    }

    /// A hub whose supervisor and sessions use `store` (which keeps its
    /// data in `memory`).
    fn start_on(store: Arc<dyn SessionStore>, memory: Arc<MemoryStore>) -> Self {
        let tasks_ended = Arc::new(AtomicU32::new(0));
        let app = Worker {
            ended: tasks_ended.clone(),
        };
        let config = Config {
            grace: GRACE,
            ..Config::default()
        };
        // No session threads: sessions start on this thread, this System.
        let supervisor = Supervisor::new(
            Arc::new(app),
            Arc::new(config),
            store,
            Vec::new(),
            None,
            Arc::default(),
        )
        .start();
        Self {
            supervisor,
            store: memory,
            key: SessionKey::random(),
            clock: ActivityClock::default(),
            tasks_ended,
        }
    }

    async fn stats(&self) -> HubStats {
        self.supervisor
            .send(Stats)
            .await
            .expect("the supervisor runs")
    }

    /// Asserts that the session is registered, running and not saved, once
    /// every timer that was due has run: the supervisor's poll handles its
    /// mailbox before its timers, so a stop the grace timer asked for is in
    /// the session's mailbox before the session's answer to `tab`'s probe.
    async fn assert_live(&self, tab: &Tab, when: &str) {
        assert_eq!(self.stats().await.sessions, 1, "{when}: registered");
        assert!(tab.session_answers().await, "{when}: running");
        assert_eq!(self.stats().await.sessions, 1, "{when}: still registered");
        assert!(self.store.is_empty(), "{when}: not saved");
    }

    /// Waits until the supervisor has forgotten the session (its save runs
    /// on the blocking pool, then the supervisor hears the answer).
    async fn until_stopped(&self) {
        let patience = Patience::new("the session to stop");
        while self.stats().await.sessions != 0 {
            patience.wait().await;
        }
    }

    /// Waits until the app saw `n` tasks end (and the session told the
    /// supervisor, in the same handler, when none is left running).
    async fn until_tasks_ended(&self, n: u32) {
        let patience = Patience::new("the task to end");
        while self.tasks_ended.load(Ordering::Relaxed) < n {
            patience.wait().await;
        }
        // The supervisor handles what the session sent before this.
        self.stats().await;
    }

    fn saved_done(&self) -> Value {
        let saved = self
            .store
            .load(&self.key)
            .expect("the memory store answers");
        saved.expect("the session was saved").state["done"].clone()
    }
}

/// One tab: a recorder, its connection, and its session link once joined.
struct Tab {
    id: TabId,
    conn: ConnId,
    recorder: Addr<Recorder>,
    seen: mpsc::UnboundedReceiver<Seen>,
    link: Option<SessionLink>,
}

impl Tab {
    fn new(name: &str) -> Self {
        let (tx, seen) = mpsc::unbounded_channel();
        Self {
            id: TabId::parse(name).unwrap_or_else(|e| panic!("{e}")),
            conn: ConnId(1),
            recorder: Recorder(tx).start(),
            seen,
            link: None,
        }
    }

    /// Joins the hub's session and waits for the join reply (from the
    /// session, once it loaded itself on the blocking pool).
    async fn join(&mut self, hub: &Hub) {
        self.send_join(hub).await;
        self.joined().await;
    }

    /// Sends the join; returns once the supervisor took it (it may have
    /// parked it), not waiting for its reply.
    async fn send_join(&self, hub: &Hub) {
        hub.supervisor
            .send(self.join_message(hub, JoinMode::Full))
            .await
            .expect("the supervisor runs");
    }

    /// Sends a summary join; returns once the supervisor took it.
    async fn send_watch(&self, hub: &Hub) {
        hub.supervisor
            .send(self.join_message(hub, JoinMode::Summary))
            .await
            .expect("the supervisor runs");
    }

    /// The join this tab sends, in `mode`.
    fn join_message(&self, hub: &Hub, mode: JoinMode) -> Join {
        Join {
            identity: std::sync::Arc::new(()),
            key: hub.key.clone(),
            tab: self.id.clone(),
            conn: self.conn,
            tab_addr: TabAddr {
                deliver: TabInbox::direct(self.recorder.clone().recipient()),
                close: self.recorder.clone().recipient(),
            },
            join_ref: "1".into(),
            reply_ref: Some("join".to_owned()),
            mode,
            cursor: None,
            visibility: Visibility::Visible,
            activity: hub.clock.stamp(),
        }
    }

    /// Waits for the reply to the join sent last.
    async fn joined(&mut self) {
        match self.next("the join reply").await {
            Seen::Joined(link, _) => self.link = link,
            _ => panic!("the join was not answered with its reply"),
        }
    }

    /// Leaves; returns once the supervisor handled the leave.
    async fn leave(&self, hub: &Hub) {
        let leave = Leave {
            key: hub.key.clone(),
            tab: self.id.clone(),
            conn: self.conn,
        };
        hub.supervisor
            .send(leave)
            .await
            .expect("the supervisor runs");
    }

    fn link(&self) -> &SessionLink {
        self.link.as_ref().expect("the tab joined")
    }

    /// Submits an event as the tab's connection would; returns its reply.
    async fn submit(&mut self, name: &str, payload: Value) -> Value {
        let link = self.link().clone();
        assert!(link.queue.try_submit(usize::MAX));
        let submit = Submit {
            key: crate::ids::SessionKey::random(),
            identity: std::sync::Arc::new(()),
            tab: self.id.clone(),
            conn: self.conn,
            join_ref: "1".into(),
            reply_to: TabInbox::direct(self.recorder.clone().recipient()),
            reply_ref: Some("event".to_owned()),
            event: EventPayload {
                id: uuid::Uuid::new_v4().to_string(),
                name: name.to_owned(),
                payload,
                chain: None,
            },
        };
        link.submit.send(submit).await.expect("the session runs");
        // Pushes (`task`) may come first; the one reply is the event's.
        loop {
            if let Seen::Reply(_, response) = self.next("the event's reply").await {
                return response;
            }
        }
    }

    /// Whether the session still handles messages: a cancel of no task,
    /// which a stopped (or stopping) session never answers. Its reply goes
    /// to a recorder nobody reads.
    async fn session_answers(&self) -> bool {
        let (tx, _rx) = mpsc::unbounded_channel();
        let cancel = Cancel {
            key: crate::ids::SessionKey::random(),
            tab: self.id.clone(),
            conn: self.conn,
            join_ref: "1".into(),
            reply_to: TabInbox::direct(Recorder(tx).start().recipient()),
            reply_ref: None,
            task: "none".to_owned(),
        };
        self.link().cancel.send(cancel).await.is_ok()
    }

    async fn next(&mut self, what: &'static str) -> Seen {
        let patience = Patience::new(what);
        loop {
            if let Ok(seen) = self.seen.try_recv() {
                return seen;
            }
            patience.wait().await;
        }
    }
}

#[actix_rt::test]
async fn after_the_last_tab_leaves_the_session_lives_for_the_grace_time_then_is_saved_and_stopped()
{
    tokio::time::pause();
    let hub = Hub::start();
    let mut tab = Tab::new("a");
    tab.join(&hub).await;
    tab.leave(&hub).await;

    advance(GRACE - MS).await;
    hub.assert_live(&tab, "just before the grace time").await;

    advance(2 * MS).await;
    hub.until_stopped().await;
    assert_eq!(hub.saved_done(), 0, "a new session is saved as it was");
    assert!(!tab.session_answers().await, "and stopped");
}

#[actix_rt::test]
async fn a_join_during_the_grace_time_cancels_it() {
    tokio::time::pause();
    let hub = Hub::start();
    let mut tab = Tab::new("a");
    tab.join(&hub).await;
    tab.leave(&hub).await;

    advance(GRACE / 2).await;
    hub.assert_live(&tab, "half the grace time after the leave")
        .await;
    tab.join(&hub).await;
    advance(GRACE * 3).await;
    hub.assert_live(&tab, "long after the grace time").await;
    assert_eq!(hub.stats().await.tabs, 1);
}

#[actix_rt::test]
async fn the_grace_time_starts_afresh_when_the_last_task_ends_with_no_tab_joined() {
    // The leave at 0 arms the grace timer (due at GRACE); the task's end at
    // JOB re-arms it, so the session stops at JOB + GRACE, not at GRACE.
    tokio::time::pause();
    let hub = Hub::start();
    let mut tab = Tab::new("a");
    tab.join(&hub).await;
    let r = tab.submit("work", json!({"ms": JOB.as_millis()})).await;
    assert_eq!(r["status"], "ok", "{r}");
    tab.leave(&hub).await;

    advance(JOB + MS).await;
    hub.until_tasks_ended(1).await;

    advance(GRACE - JOB).await;
    hub.assert_live(&tab, "a grace time after the leave").await;

    advance(JOB - MS).await;
    hub.assert_live(&tab, "just before a grace time after the task's end")
        .await;

    advance(2 * MS).await;
    hub.until_stopped().await;
    assert_eq!(hub.saved_done(), 1, "saved with the task's work");
}
