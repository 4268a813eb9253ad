//! The chain timeout on paused time (docs/protocol.md section 10 (chains)): a chain its tab
//! does not re-submit goes to the leader after `chain_timeout`, not before,
//! with the same id, and a chain re-submitted in time is not sent again.
//!
//! The session runs on the test's own actix System, with no supervisor:
//! tabs are recorder actors attached the way the supervisor attaches them
//! (`Attach` naming the leader). The clock moves only by
//! `tokio::time::advance`; waiting for what the actors do never moves it
//! (see [`Patience`]).

use crate::messages::testing::{Flush, Patience, Recorder, Seen};
use std::collections::VecDeque;
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::advance;

use super::{ControlLink, SessionActor, SessionSetup};
use crate::app::{App, AppError, Context as AppContext};
use crate::config::Config;
use crate::ids::{ChainId, ConnId, SessionKey, TabId};
use crate::messages::{Attach, Cancel, SessionEnded, SessionIdle, SessionLink, Submit, TabInbox};
use crate::protocol::message::EventPayload;
use crate::store::MemoryStore;

const CHAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// The timer wheel's resolution: a timer due at `t` has fired once the
/// clock is past `t` by this, and not before `t`.
const MS: Duration = Duration::from_millis(1);

/// `start {}` chains `step {}`; `step {}` counts itself in the state.
struct Chainer;

#[derive(Default, Serialize, Deserialize)]
struct Steps {
    steps: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum ChainerEvent {
    Start {},
    Step {},
}

impl App for Chainer {
    type State = Steps;
    type Event = ChainerEvent;
    type Identity = ();

    async fn handle(
        &self,
        state: &mut Steps,
        event: ChainerEvent,
        cx: &mut AppContext<'_, Self>,
    ) -> Result<(), AppError> {
        match event {
            ChainerEvent::Start {} => cx.chain(&ChainerEvent::Step {}),
            ChainerEvent::Step {} => {
                state.steps += 1;
                Ok(())
            }
        }
    }
}

/// Stands in for the supervisor: nothing of the session's life is asked
/// of it here.
struct Control;

impl Actor for Control {
    type Context = Context<Self>;
}

impl Handler<SessionIdle> for Control {
    type Result = ();

    fn handle(&mut self, _msg: SessionIdle, _ctx: &mut Self::Context) {}
}

impl Handler<SessionEnded> for Control {
    type Result = ();

    fn handle(&mut self, _msg: SessionEnded, _ctx: &mut Self::Context) {}
}

fn start_session() -> Addr<SessionActor<Chainer>> {
    let control = Control.start();
    let config = Config {
        chain_timeout: CHAIN_TIMEOUT,
        ..Config::default()
    };
    SessionActor::new(SessionSetup {
        key: SessionKey::random(),
        incarnation: 1,
        app: std::sync::Arc::new(Chainer),
        config: std::sync::Arc::new(config),
        store: std::sync::Arc::new(MemoryStore::new()),
        control: ControlLink {
            idle: control.clone().recipient(),
            ended: control.recipient(),
            metrics: std::sync::Arc::default(),
            journals: std::sync::Arc::new(crate::session::journal::JournalBudget::new(
                0,
                std::sync::Arc::default(),
            )),
            span: tracing::Span::none(),
        },
        watchers: crate::messages::Watchers::new(std::sync::Arc::default()),
        committer: None,
    })
    .start()
}

/// Returns once the session handled everything sent to it before, and
/// every timer of its that was due has run. A session's poll handles its
/// mailbox before its timers, and the test resumes only after that poll.
async fn settle(session: &Addr<SessionActor<Chainer>>, tabs: &[&Tab]) {
    let (tx, _rx) = mpsc::unbounded_channel();
    let cancel = Cancel {
        key: crate::ids::SessionKey::random(),
        tab: TabId::random(),
        conn: ConnId(0),
        join_ref: "0".into(),
        reply_to: TabInbox::direct(Recorder(tx).start().recipient()),
        reply_ref: None,
        task: "none".to_owned(),
    };
    session.send(cancel).await.expect("the session is running");
    for tab in tabs {
        tab.recorder.send(Flush).await.expect("the recorder runs");
    }
}

/// A chain as a tab receives it.
#[derive(Debug, PartialEq)]
struct ChainSent {
    chain: ChainId,
    name: String,
}

/// One tab: a recorder and what it was sent.
struct Tab {
    id: TabId,
    conn: ConnId,
    recorder: Addr<Recorder>,
    seen: mpsc::UnboundedReceiver<Seen>,
    backlog: VecDeque<Seen>,
    link: Option<SessionLink>,
    next_ref: u32,
}

impl Tab {
    fn new(name: &str, conn: u64) -> Self {
        let (tx, seen) = mpsc::unbounded_channel();
        Self {
            id: TabId::parse(name).unwrap_or_else(|e| panic!("{e}")),
            conn: ConnId(conn),
            recorder: Recorder(tx).start(),
            seen,
            backlog: VecDeque::new(),
            link: None,
            next_ref: 0,
        }
    }

    /// Attaches this tab as the supervisor would, with `leader` elected and
    /// `tabs` joined after it, and waits for its join reply.
    async fn attach(&mut self, session: &Addr<SessionActor<Chainer>>, leader: &TabId, tabs: usize) {
        let attach = Attach {
            tab: self.id.clone(),
            conn: self.conn,
            tab_addr: TabInbox::direct(self.recorder.clone().recipient()),
            join_ref: "1".into(),
            reply_ref: Some("join".to_owned()),
            cursor: None,
            leader: Some(leader.clone()),
            tabs,
            identity: std::sync::Arc::new(()),
            visibility: crate::protocol::message::Visibility::Visible,
        };
        session.send(attach).await.expect("the session is running");
        match self
            .expect("its join reply", |s| matches!(s, Seen::Joined(..)))
            .await
        {
            Seen::Joined(link, _) => self.link = link,
            _ => unreachable!("expect returns what matched"),
        }
    }

    /// Submits an event as the tab's connection would, and returns its reply.
    async fn submit(&mut self, name: &str, chain: Option<ChainId>) -> Value {
        let link = self.link.clone().expect("the tab is joined");
        self.next_ref += 1;
        let reply_ref = Some(format!("event-{}", self.next_ref));
        assert!(link.queue.try_submit(usize::MAX));
        let submit = Submit {
            key: crate::ids::SessionKey::random(),
            identity: std::sync::Arc::new(()),
            tab: self.id.clone(),
            conn: self.conn,
            join_ref: "1".into(),
            reply_to: TabInbox::direct(self.recorder.clone().recipient()),
            reply_ref: reply_ref.clone(),
            event: EventPayload {
                id: uuid::Uuid::new_v4().to_string(),
                name: name.to_owned(),
                payload: json!({}),
                chain,
            },
        };
        link.submit
            .send(submit)
            .await
            .expect("the session is running");
        let is_reply = |s: &Seen| matches!(s, Seen::Reply(r, _) if *r == reply_ref);
        match self.expect("the event's reply", is_reply).await {
            Seen::Reply(_, response) => response,
            _ => unreachable!("expect returns what matched"),
        }
    }

    /// The first thing sent to this tab that matches, waiting for it if
    /// need be; what does not match is kept for later.
    async fn expect(&mut self, what: &'static str, matches: impl Fn(&Seen) -> bool) -> Seen {
        if let Some(i) = self.backlog.iter().position(&matches) {
            return self.backlog.remove(i).expect("the position is in range");
        }
        let patience = Patience::new(what);
        loop {
            while let Ok(seen) = self.seen.try_recv() {
                if matches(&seen) {
                    return seen;
                }
                self.backlog.push_back(seen);
            }
            patience.wait().await;
        }
    }

    /// Waits for the next chain sent to this tab.
    async fn expect_chain(&mut self) -> ChainSent {
        let is_chain = |s: &Seen| matches!(s, Seen::Push("chain", _));
        match self.expect("a chain", is_chain).await {
            Seen::Push(_, payload) => chain_sent(&payload),
            _ => unreachable!("expect returns what matched"),
        }
    }

    /// The chains sent to this tab so far and not yet looked at.
    fn chains_so_far(&mut self) -> Vec<ChainSent> {
        while let Ok(seen) = self.seen.try_recv() {
            self.backlog.push_back(seen);
        }
        let mut chains = Vec::new();
        self.backlog.retain(|s| match s {
            Seen::Push("chain", payload) => {
                chains.push(chain_sent(payload));
                false
            }
            _ => true,
        });
        chains
    }
}

fn chain_sent(payload: &Value) -> ChainSent {
    let chain = payload["chain"].as_str().expect("a chain has an id");
    assert_eq!(payload["payload"], json!({}));
    ChainSent {
        chain: ChainId::new(chain),
        name: payload["name"].as_str().unwrap_or_default().to_owned(),
    }
}

/// A session with its leader and another tab joined, in that order.
async fn leader_and_other() -> (Addr<SessionActor<Chainer>>, Tab, Tab) {
    let session = start_session();
    let mut leader = Tab::new("leader", 1);
    let mut other = Tab::new("other", 2);
    let elected = leader.id.clone();
    leader.attach(&session, &elected, 1).await;
    other.attach(&session, &elected, 2).await;
    (session, leader, other)
}

#[actix_rt::test]
async fn a_chain_its_tab_does_not_resubmit_goes_to_the_leader_after_the_chain_timeout_and_not_before(
) {
    tokio::time::pause();
    let (session, mut leader, mut origin) = leader_and_other().await;
    assert_eq!(origin.submit("start", None).await["status"], "ok");
    let held = origin.expect_chain().await;
    assert_eq!(held.name, "step");

    advance(CHAIN_TIMEOUT - MS).await;
    settle(&session, &[&leader, &origin]).await;
    assert_eq!(leader.chains_so_far(), [], "not before the chain timeout");
    assert_eq!(origin.chains_so_far(), [], "nor again to its tab");

    advance(2 * MS).await;
    assert_eq!(leader.expect_chain().await, held, "the same chain, same id");
    settle(&session, &[&leader, &origin]).await;
    assert_eq!(origin.chains_so_far(), [], "a chain goes to one tab");
}

#[actix_rt::test]
async fn a_chain_held_by_the_leader_is_sent_to_it_again_with_the_same_id_after_each_chain_timeout()
{
    // `chain_timed_out` re-sends to the leader, whoever held the chain: a
    // leader that sits on its own chain gets it again, once per timeout.
    tokio::time::pause();
    let (session, mut leader, mut other) = leader_and_other().await;
    assert_eq!(leader.submit("start", None).await["status"], "ok");
    let held = leader.expect_chain().await;

    for _ in 0..2 {
        advance(CHAIN_TIMEOUT - MS).await;
        settle(&session, &[&leader, &other]).await;
        assert_eq!(leader.chains_so_far(), [], "not before the chain timeout");
        advance(2 * MS).await;
        assert_eq!(leader.expect_chain().await, held, "again, same id");
    }
    settle(&session, &[&leader, &other]).await;
    assert_eq!(
        other.chains_so_far(),
        [],
        "never to a tab that is not the leader"
    );
}

#[actix_rt::test]
async fn a_chain_resubmitted_within_the_chain_timeout_is_not_sent_again() {
    tokio::time::pause();
    let (session, mut leader, mut origin) = leader_and_other().await;
    assert_eq!(origin.submit("start", None).await["status"], "ok");
    let held = origin.expect_chain().await;

    advance(CHAIN_TIMEOUT - MS).await;
    settle(&session, &[&leader, &origin]).await;
    let r = origin.submit("step", Some(held.chain)).await;
    assert_eq!(r["status"], "ok");

    advance(CHAIN_TIMEOUT).await;
    settle(&session, &[&leader, &origin]).await;
    assert_eq!(leader.chains_so_far(), [], "a handled chain is not re-sent");
    assert_eq!(origin.chains_so_far(), []);
}
