//! [`SessionActor`]: one per live session key, the data plane. The only
//! owner of its session's state, FIFO event queue, journal, recent ids,
//! chains, tasks and summary watchers, and of delivery to its tabs.
//!
//! It handles one event at a time in arrival order (its mailbox is the FIFO
//! queue), computes each delta as an RFC 6902 patch between the state's JSON
//! before and after, appends it to the [`journal`], and delivers it to every
//! joined tab before replying to the submitter. Background tasks' updates
//! come back through the same mailbox.
//!
//! - `mod.rs`: the actor and its phases (loading, ready, failed).
//! - `load.rs`: loading itself from the store off the actor threads;
//!   `stop.rs`: stopping when the supervisor asks, saving itself the same
//!   way (a stop on request is answered once the queue has drained).
//! - `members.rs`: the delivery list, a projection of the supervisor's
//!   decisions (`attach.rs` applies them); `deliver.rs`: sending to
//!   members and watchers, always through the outbox.
//! - `events.rs`: events from tabs (idempotency, the app's handler, which
//!   may await, then delta and reply), cancels.
//! - `apply.rs`: settling what app code did: delta, journal, fan-out,
//!   requests, or roll back; task updates.
//! - `durable.rs`: [`durable::Durability`], the one owner of what is on
//!   disk and what waits for it (committer, step numbers, outbox, held
//!   queue places, checkpoints, unsaved changes); `steps.rs` runs a
//!   handler as one scoped step on it.
//! - `chains.rs`, `tasks.rs`, `watchers.rs`: chained events, background
//!   tasks, summary joins; `presence.rs`: the app's presence hooks, run
//!   as steps when tabs join, leave, or are shown or hidden.
//! - `server.rs`: what server code asks through a session handle;
//!   `inspect.rs`: what the server API's listing shows of it.
//! - `journal/`, `recent.rs`, `outbox.rs`: what the actor owns (the
//!   journal's budget, shared by every session, may evict its oldest
//!   deltas: `journal/budget.rs`).
//!
//! It does not decide membership or the leader: the supervisor does and
//! tells it (`Attach`, `Detach`, [`SetLeader`]), one way.
//!
//! Fields written here: `key`, `topic`, `app`, `config`, `store`, `control`
//! and `incarnation` (at start, never again) and `phase` (`ready`, `fail`).
//! Every other field's one writer is named in docs/architecture.md ("The
//! session's facts and their one writer") and in that file's docs.

mod apply;
mod attach;
mod chains;
mod deliver;
mod durable;
mod events;
mod inspect;
pub(crate) mod journal;
mod load;
mod members;
mod outbox;
mod presence;
mod pushed;
mod recent;
mod server;
mod steps;
mod stop;
mod tasks;
#[cfg(test)]
mod tests;
mod watchers;

use std::sync::Arc;

use actix::{Actor, Recipient};
use serde_json::Value;

use crate::app::App;
use crate::config::Config;
use crate::ids::{Epoch, SessionKey, TabId};
use crate::messages::{SessionEnded, SessionIdle, SetLeader, Watchers};
use crate::store::committer::Committer;
use crate::store::{SavedChain, SavedSession, SessionStore};

use chains::Chains;
use durable::Durability;
use journal::Journal;
use members::Members;
use recent::Recent;
use tasks::Tasks;

pub(crate) use inspect::Inspect;
pub use pushed::Push;
pub(crate) use pushed::{EndTask, PushChange, PushRefused};
pub use server::StateView;
pub(crate) use server::{
    NotHandled, ReadState, ServerCancel, ServerEffect, ServerEvent, ServerSubmit,
};

type Ctx<A> = actix::Context<SessionActor<A>>;

/// Where a session reports to the control plane, and to whoever watches
/// the service (its metrics, its logs).
#[derive(Clone)]
pub(crate) struct ControlLink {
    /// The last task ended (grace may start afresh).
    pub(crate) idle: Recipient<SessionIdle>,
    /// The session can no longer serve its key.
    pub(crate) ended: Recipient<SessionEnded>,
    /// The hub's metrics (observability, issue 14).
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// The hub's journal budget (`--journal-total-bytes`), which the
    /// session's journal counts in once it starts loading.
    pub(crate) journals: Arc<journal::JournalBudget>,
    /// `session{key=<first 6 chars>…}`: entered in the session's handlers,
    /// and around the app code it runs.
    pub(crate) span: tracing::Span,
}

/// A session's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Loading from the store; the mailbox waits (joins queue in order).
    Loading,
    /// Serving.
    Ready,
    /// Its load or a commit failed: it refuses joins with `store_error`
    /// until the supervisor stops it.
    Failed,
}

/// The actor that owns one session. See the module docs.
pub(crate) struct SessionActor<A: App> {
    key: SessionKey,
    topic: Arc<str>,
    app: Arc<A>,
    config: Arc<Config>,
    store: Arc<dyn SessionStore>,
    control: ControlLink,
    /// Which start of this key's session this is (the supervisor's count).
    incarnation: u64,
    phase: Phase,
    /// The typed state apps mutate.
    state: A::State,
    /// The JSON of `state` at `seq`: the "before" of the next delta, the
    /// snapshot sent to joining tabs, and what a failed handler rolls back to.
    state_json: Value,
    /// At least the bytes `state_json` takes as compact JSON (exact after
    /// a load, then grown by what each delta inserts): the state is
    /// measured again only when this passes `--max-state-bytes`.
    state_bytes: usize,
    epoch: Epoch,
    seq: u64,
    journal: Journal,
    recent_events: Recent,
    recent_chains: Recent,
    members: Members,
    leader: Option<TabId>,
    /// Summary joins: not tabs, only summaries; docs/protocol.md section
    /// 5.8 (summary joins). Kept here alone while the session is live.
    watchers: Watchers,
    /// The app's summary, `null` until it sets one.
    summary: Value,
    chains: Chains,
    tasks: Tasks,
    /// What is on disk and what waits for it: the committer, steps, the
    /// outbox, held queue places, checkpoints, whether a save is due.
    durable: Durability,
    /// A `Stop` (mode `Now`) waiting for the queue to drain (`stop.rs`).
    draining: Option<stop::Draining>,
    /// When the seq last moved on this node (or the session started):
    /// `GET /api/sessions`'s last activity of a live session.
    changed_at: std::time::SystemTime,
}

/// Everything a new [`SessionActor`] needs; it loads its saved data itself.
pub(crate) struct SessionSetup<A: App> {
    pub(crate) key: SessionKey,
    pub(crate) incarnation: u64,
    pub(crate) app: Arc<A>,
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) control: ControlLink,
    /// The key's summary joins, handed over by the supervisor (made while
    /// the key had no live session): the session keeps them from now on,
    /// and answers, once loaded, those still waiting for their reply.
    pub(crate) watchers: Watchers,
    /// The commit thread, when the store is durable.
    pub(crate) committer: Option<Committer>,
}

impl<A: App> SessionActor<A> {
    /// A session that has not loaded yet: it loads itself when started
    /// (see `load.rs`), and handles nothing before that.
    pub(crate) fn new(setup: SessionSetup<A>) -> Self {
        let SessionSetup {
            key,
            incarnation,
            app,
            config,
            store,
            control,
            watchers,
            committer,
        } = setup;
        let topic: Arc<str> = Arc::from(key.topic());
        Self {
            members: Members::default(),
            journal: Journal::new(config.journal_len, config.journal_max_bytes),
            recent_events: Recent::new(config.recent_events),
            recent_chains: Recent::new(config.recent_events),
            key,
            topic,
            app,
            config,
            store,
            control,
            incarnation,
            phase: Phase::Loading,
            state: A::State::default(),
            state_json: Value::Null,
            state_bytes: 0,
            epoch: Epoch::random(),
            seq: 0,
            leader: None,
            watchers,
            summary: Value::Null,
            chains: Chains::default(),
            tasks: Tasks::default(),
            durable: Durability::new(committer),
            draining: None,
            changed_at: std::time::SystemTime::now(),
        }
    }

    /// What the store keeps of this session.
    fn saved(&self) -> SavedSession {
        SavedSession {
            state: self.state_json.clone(),
            seq: self.seq,
            epoch: Some(self.epoch.clone()),
            journal: self.journal.saved(),
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

    /// Loaded: the session serves from now on, starting with the summary
    /// joins still waiting for their reply.
    fn ready(&mut self) {
        self.phase = Phase::Ready;
        self.answer_waiting_watchers();
    }

    /// The session can no longer serve its key: tabs are told to rejoin
    /// (`phx_error`; their cursors only ever saw durable deltas), the
    /// delivery list is emptied, and the supervisor is told, which forgets
    /// this session and stops it. Until then joins get `store_error`.
    fn fail(&mut self) {
        self.end(true);
    }

    /// Another node owns the key now (a shared store; this node's lease
    /// ran out and was taken): as [`Self::fail`], but its running tasks
    /// are the new owner's to restart, not this node's.
    fn disown(&mut self) {
        self.end(false);
    }

    fn end(&mut self, restart_tasks_here: bool) {
        self.phase = Phase::Failed;
        // The supervisor hears of it before any tab: a tab's rejoin then
        // reaches it after it forgot this session, and starts a fresh one.
        let had_tasks = !self.tasks.is_empty() || !self.tasks.to_restart.is_empty();
        self.control.ended.do_send(SessionEnded {
            key: self.key.clone(),
            incarnation: self.incarnation,
            had_tasks: had_tasks && restart_tasks_here,
        });
        self.durable.failed();
        self.send_everyone_to_rejoin_now();
    }
}

impl<A: App> Actor for SessionActor<A> {
    type Context = Ctx<A>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.load(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(key = %self.key, seq = self.seq, "session stopped");
    }
}

impl<A: App> actix::Handler<SetLeader> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: SetLeader, _ctx: &mut Self::Context) {
        self.set_leader(msg.leader, None);
    }
}
