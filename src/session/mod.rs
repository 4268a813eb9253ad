//! [`SessionActor`]: one per live session key, the only owner of its state.
//!
//! It handles one event at a time in arrival order (its mailbox is the FIFO
//! queue), computes each delta as an RFC 6902 patch between the state's JSON
//! before and after, appends it to the [`journal`], and delivers it to every
//! joined tab before replying to the submitter. Background tasks' updates
//! come back through the same mailbox.
//!
//! - `mod.rs`: the actor, loading and saving, membership (attach, detach).
//! - `apply.rs`: events and task updates: apply, delta, reply.
//! - `chains.rs`: chained events waiting for a tab to re-submit them.
//! - `tasks.rs`: background tasks.
//! - `journal.rs`, `recent.rs`, `members.rs`: what the actor owns.
//!
//! It does not decide membership or the leader: the supervisor does and
//! tells it ([`Attach`], [`Detach`], [`SetLeader`]).

mod apply;
mod chains;
pub(crate) mod journal;
mod members;
mod messages;
mod outbox;
mod recent;
mod steps;
mod tasks;
mod watchers;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Actor, AsyncContext, Handler, Recipient};
use serde_json::Value;

use crate::app::App;
use crate::config::Config;
use crate::ids::{Epoch, SessionKey, TabId};
use crate::protocol::message::{ok_reply, JoinReply, Resume};
use crate::protocol::{event, message};
use crate::store::committer::Committer;
use crate::store::{SavedChain, SavedSession, Step, Store, StoreError};
use crate::tab::Outgoing;

use chains::Chains;
use journal::{Catchup, Journal};
use members::{Member, Members};
use recent::Recent;
use tasks::Tasks;

pub use messages::TaskUpdate;
pub(crate) use messages::{
    Attach, Cancel, Detach, SessionIdle, SessionLink, SetLeader, Stop, StopOutcome, Submit,
    Unwatch, Watch, Watcher,
};
pub use recent::Outcome;

type Ctx<A> = actix::Context<SessionActor<A>>;

/// The actor that owns one session. See the module docs.
pub struct SessionActor<A: App> {
    key: SessionKey,
    topic: Arc<str>,
    app: Arc<A>,
    config: Arc<Config>,
    store: Arc<dyn Store>,
    supervisor: Recipient<SessionIdle>,
    /// The typed state apps mutate.
    state: A::State,
    /// The JSON of `state` at `seq`: the "before" of the next delta, the
    /// snapshot sent to joining tabs, and what a failed handler rolls back to.
    state_json: Value,
    epoch: Epoch,
    seq: u64,
    journal: Journal,
    recent_events: Recent,
    recent_chains: Recent,
    members: Members,
    leader: Option<TabId>,
    /// Summary joins (PROTOCOL section 3a): not tabs, only summaries.
    watchers: Vec<Watcher>,
    /// The app's summary, `null` until it sets one.
    summary: Value,
    chains: Chains,
    tasks: Tasks,
    queued: Arc<AtomicUsize>,
    /// Set when the store is durable: where steps go to be written.
    committer: Option<Committer>,
    /// Number of the last step begun.
    steps: u64,
    /// The record of the step in progress.
    step: Option<Step>,
    /// Deltas since the last checkpoint written.
    deltas_since_checkpoint: u64,
    /// A new key's first step must carry a checkpoint (its base state).
    needs_checkpoint: bool,
    /// Restartable tasks of a loaded session, restarted once it starts.
    to_restart: Vec<crate::store::SavedTask>,
}

/// Everything a new [`SessionActor`] needs besides its saved data.
pub(crate) struct SessionSetup<A: App> {
    pub(crate) key: SessionKey,
    pub(crate) app: Arc<A>,
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) supervisor: Recipient<SessionIdle>,
    /// Summary joins already waiting for this key (made while it was
    /// stopped); they get `summary` messages from now on.
    pub(crate) watchers: Vec<Watcher>,
    /// The commit thread, when the store is durable.
    pub(crate) committer: Option<Committer>,
}

impl<A: App> SessionActor<A> {
    /// Builds a session from what the store returned: a new one (`None`,
    /// from the app's initial state, seq 0, a new epoch) or a saved one. A
    /// saved session keeps its epoch and journal if the store kept them, and
    /// otherwise starts a new epoch at the saved seq; seq never goes back.
    ///
    /// # Errors
    /// [`StoreError`] when the saved state does not decode as `A::State`.
    pub(crate) fn restore(
        setup: SessionSetup<A>,
        saved: Option<SavedSession>,
    ) -> Result<Self, StoreError> {
        let SessionSetup {
            key,
            app,
            config,
            store,
            supervisor,
            watchers,
            committer,
        } = setup;
        let topic: Arc<str> = Arc::from(key.topic());
        let mut journal = Journal::new(config.journal_len, config.journal_max_bytes);
        let mut recent_events = Recent::new(config.recent_events);
        let mut recent_chains = Recent::new(config.recent_events);
        let mut chains = Chains::default();
        let mut summary = Value::Null;
        let needs_checkpoint = saved.is_none();
        let mut to_restart = Vec::new();
        let (state, seq, epoch) = match saved {
            None => (app.initial_state(&key), 0, Epoch::random()),
            Some(saved) => {
                let state: A::State =
                    serde_json::from_value(saved.state.clone()).map_err(|e| StoreError {
                        message: format!("saved state of {key} does not decode: {e}"),
                    })?;
                let epoch = match saved.epoch {
                    Some(epoch) => {
                        journal.restore(saved.journal);
                        epoch
                    }
                    None => Epoch::random(),
                };
                for (id, outcome) in saved.recent {
                    recent_events.insert(id, outcome);
                }
                for (id, outcome) in saved.recent_chains {
                    recent_chains.insert(id, outcome);
                }
                summary = saved.summary;
                to_restart = saved.tasks;
                for c in saved.pending_chains {
                    chains.restore(c.chain, c.name, c.payload);
                }
                (state, saved.seq, epoch)
            }
        };
        let state_json = serde_json::to_value(&state).map_err(|e| StoreError {
            message: format!("state of {key} does not serialize: {e}"),
        })?;
        Ok(Self {
            members: Members::new(topic.clone()),
            key,
            topic,
            app,
            config,
            store,
            supervisor,
            state,
            state_json,
            epoch,
            seq,
            journal,
            recent_events,
            recent_chains,
            leader: None,
            watchers,
            summary,
            chains,
            tasks: Tasks::default(),
            queued: Arc::new(AtomicUsize::new(0)),
            committer,
            steps: 0,
            step: None,
            deltas_since_checkpoint: 0,
            needs_checkpoint,
            to_restart,
        })
    }

    /// What the store keeps of this session.
    fn saved(&self) -> SavedSession {
        SavedSession {
            state: self.state_json.clone(),
            seq: self.seq,
            epoch: Some(self.epoch.clone()),
            journal: self.journal.entries().cloned().collect(),
            pending_chains: self
                .chains
                .iter()
                .map(|(id, c)| SavedChain {
                    chain: id.clone(),
                    name: c.name.clone(),
                    payload: c.payload.clone(),
                })
                .collect(),
            recent: self.recent_events.entries(),
            recent_chains: self.recent_chains.entries(),
            summary: self.summary.clone(),
            tasks: self.tasks.restartable(),
        }
    }

    /// Applies a leader decided by the supervisor; every tab whose role
    /// changed, except `skip` (a joining tab learns it from its reply), gets
    /// a `leader` message.
    fn set_leader(&mut self, leader: Option<TabId>, skip: Option<&TabId>) {
        let old = std::mem::replace(&mut self.leader, leader);
        if old == self.leader {
            return;
        }
        for m in self.members.iter() {
            let was = old.as_ref() == Some(&m.tab);
            let is = self.leader.as_ref() == Some(&m.tab);
            if was != is && Some(&m.tab) != skip {
                let payload = message::to_raw(&serde_json::json!({ "leader": is }));
                self.members.send(
                    m,
                    Outgoing::Push {
                        event: event::LEADER,
                        payload,
                    },
                );
            }
        }
    }

    /// Tells every tab but `skip` (a joining tab, whose reply has the
    /// count) how many tabs are joined now.
    fn broadcast_tabs(&self, skip: Option<&TabId>) {
        let payload = message::to_raw(&serde_json::json!({ "tabs": self.members.len() }));
        for m in self.members.iter().filter(|m| Some(&m.tab) != skip) {
            self.members.send(
                m,
                Outgoing::Push {
                    event: event::TABS,
                    payload: payload.clone(),
                },
            );
        }
    }

    fn link(&self, ctx: &mut Ctx<A>) -> SessionLink {
        let addr = ctx.address();
        SessionLink {
            submit: addr.clone().recipient(),
            cancel: addr.recipient(),
            queued: self.queued.clone(),
        }
    }

    fn join_reply(&self, tab: &TabId, cursor: Option<&message::Cursor>) -> String {
        let (resume, deltas, state) = match self.journal.catchup(cursor, &self.epoch, self.seq) {
            Catchup::Current => (Resume::Current, None, None),
            Catchup::Replay(deltas) => (Resume::Replay, Some(deltas), None),
            Catchup::Snapshot => (Resume::Snapshot, None, Some(&self.state_json)),
        };
        ok_reply(&JoinReply {
            tab_id: tab,
            epoch: &self.epoch,
            seq: self.seq,
            resume,
            leader: self.leader.as_ref() == Some(tab),
            tabs: self.members.len(),
            deltas,
            state,
        })
    }
}

impl<A: App> Actor for SessionActor<A> {
    type Context = Ctx<A>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(key = %self.key, seq = self.seq, epoch = self.epoch.as_str(), "session started");
        let saved = std::mem::take(&mut self.to_restart);
        self.restart_tasks(saved, ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(key = %self.key, seq = self.seq, "session stopped");
    }
}

impl<A: App> Handler<Attach> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Attach, ctx: &mut Self::Context) {
        let is_new = self.members.upsert(Member {
            tab: msg.tab.clone(),
            conn: msg.conn,
            addr: msg.tab_addr,
            join_ref: msg.join_ref,
        });
        self.set_leader(msg.leader, Some(&msg.tab));
        let response = self.join_reply(&msg.tab, msg.cursor.as_ref());
        let link = self.link(ctx);
        if let Some(m) = self.members.find(&msg.tab, msg.conn) {
            self.members.send(
                m,
                Outgoing::Joined {
                    reply_ref: msg.reply_ref,
                    link: Some(link),
                    response,
                },
            );
        }
        if is_new {
            self.broadcast_tabs(Some(&msg.tab));
        }
        // After the reply: chains this tab held before a takeover or
        // rejoin, and chains that waited for any tab.
        self.resend_chains_on_join(&msg.tab, ctx);
    }
}

impl<A: App> Handler<Detach> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Detach, ctx: &mut Self::Context) {
        let removed = self.members.remove(&msg.tab, msg.conn);
        self.set_leader(msg.leader, None);
        if !removed {
            return;
        }
        self.broadcast_tabs(None);
        self.reroute_chains_held_by(&msg.tab, ctx);
        if self.members.is_empty() {
            self.app.last_tab_left(&self.key, &self.state);
        }
    }
}

impl<A: App> Handler<SetLeader> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: SetLeader, ctx: &mut Self::Context) {
        self.set_leader(msg.leader, None);
        let _ = ctx;
    }
}

impl<A: App> Handler<Stop> for SessionActor<A> {
    type Result = actix::MessageResult<Stop>;

    fn handle(&mut self, msg: Stop, ctx: &mut Self::Context) -> Self::Result {
        use actix::ActorContext;
        let busy = !self.members.is_empty()
            || !self.tasks.is_empty()
            || self.queued.load(Ordering::Acquire) > 0
            || self.members.outbox().pending();
        if busy && !msg.force {
            return actix::MessageResult(StopOutcome::Busy);
        }
        self.app.session_stopping(&self.key, &self.state);
        if self.committer.is_some() && self.members.outbox().pending() {
            // Shutdown with steps still being committed: they are the
            // record; a whole-session save now could race them. The hub
            // flushes the committer before it returns.
            tracing::info!(key = %self.key, seq = self.seq, "session stopped; its last steps are being committed");
            ctx.stop();
            return actix::MessageResult(StopOutcome::Stopped);
        }
        let saved = self.saved();
        match self.store.save(&self.key, &saved) {
            Ok(()) => {}
            Err(e) if !msg.force => {
                tracing::error!(key = %self.key, error = %e, "could not save the session; keeping it running");
                return actix::MessageResult(StopOutcome::SaveFailed);
            }
            Err(e) => {
                tracing::error!(key = %self.key, error = %e, "could not save the session at shutdown")
            }
        }
        tracing::info!(key = %self.key, seq = self.seq, journal = self.journal.len(), "session saved and stopped");
        ctx.stop();
        actix::MessageResult(StopOutcome::Stopped)
    }
}
