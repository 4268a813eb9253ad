//! [`Supervisor`]: one per service, the control plane. It only decides:
//! it registers live sessions and the tabs joined to each, elects each
//! session's leader, hands a `tab_id` to its newer connection (takeover,
//! fenced by connection age), enforces the per-session and live-session
//! caps, and cleans up when a session's last tab leaves (grace timer, then
//! save and stop).
//!
//! It is the one owner of what those decisions rest on: each session's
//! tabs, their visibility and activity, the leader, the grace timers, and
//! the summary joins of keys with no live session. Every handler is in-memory work: it
//! never waits on the store and never runs app code (tabs run `authorize`
//! before their join reaches it). Sessions load and save themselves; the
//! store calls it starts (`sessions_with_tasks` at start, `load_summary`
//! for summary joins of stopped sessions, `delete` on request,
//! `delete_if_idle` and `touch` on expiry, `release` after a session
//! failed) run on the blocking pool, and
//! each answer is handled on its thread when it comes, like a message.
//!
//! - `mod.rs`: the registry and joins.
//! - `leave.rs`: leaves, visibility, connections, stats.
//! - `watch.rs`: summary joins of keys with no live session, and the list
//!   handed to a session at its start and taken back at its stop.
//! - `lookup.rs`: session handles find (or start) a session, list its tabs.
//! - `inspect.rs`: the server API's listing of live sessions.
//! - `lifecycle.rs`: grace timer, save-and-stop, a session's end, shutdown.
//! - `retire.rs`: stopping a session and deleting a key on request
//!   (session handles, the retention sweeper), with the key fenced.
//! - `election.rs`: the leader election, a pure function.

mod election;
mod inspect;
mod leave;
mod lifecycle;
mod lookup;
mod messages;
mod retire;
#[cfg(test)]
mod tests;
mod watch;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use actix::{Actor, Addr, ArbiterHandle, AsyncContext, Context, Handler, SpawnHandle};

use crate::app::App;
use crate::config::Config;
use crate::ids::{ConnId, SessionKey, TabId};
use crate::messages::{
    ActivityStamp, Attach, CloseConnection, Deliver, Join, Outgoing, TabAddr, Watchers,
};
use crate::protocol::close::CloseCode;
use crate::protocol::message::{JoinMode, Visibility};
use crate::protocol::reply::{error_reply, ErrorResponse};
use crate::protocol::Reason;
use crate::session::journal::JournalBudget;
use crate::session::{ControlLink, SessionActor, SessionSetup};
use crate::store::committer::Committer;
use crate::store::SessionStore;

use election::{elect, Candidate};
pub(crate) use inspect::{FindLive, ListLive, LiveRow};
pub use lookup::TabInfo;
pub(crate) use lookup::{ListTabs, Lookup, LookupError};
pub use messages::HubStats;
pub(crate) use messages::{Disowned, Shutdown, Stats};
use retire::Parked;
pub(crate) use retire::{Expire, Retire, RetireError, Retired};

/// A tab joined to a session, as the registry keeps it.
struct TabEntry {
    tab: TabId,
    conn: ConnId,
    addr: TabAddr,
    visibility: Visibility,
    activity: ActivityStamp,
    /// When this tab joined (its first join; a rejoin or takeover keeps it).
    joined_at: std::time::SystemTime,
    /// The connection's identity (erased), for listing the tabs.
    identity: crate::messages::Identity,
}

/// A live session in the registry.
struct Entry<A: App> {
    addr: Addr<SessionActor<A>>,
    /// Which start of this key's session (see `SessionEnded`).
    incarnation: u64,
    tabs: Vec<TabEntry>,
    leader: Option<TabId>,
    grace: Option<SpawnHandle>,
    /// `Some` while a `Stop` is in flight; joins, lookups and retires
    /// arriving meanwhile wait here and are handled when it is answered.
    stopping: Option<Parked<A>>,
}

impl<A: App> Entry<A> {
    /// Re-runs the election; returns whether the leader changed.
    fn elect(&mut self) -> bool {
        let candidates: Vec<Candidate<'_>> = self
            .tabs
            .iter()
            .map(|t| Candidate {
                tab: &t.tab,
                visible: t.visibility == Visibility::Visible,
                activity: t.activity.last(),
            })
            .collect();
        let leader = elect(self.leader.as_ref(), &candidates);
        let changed = leader != self.leader;
        self.leader = leader;
        changed
    }
}

/// The service's control-plane actor. See the module docs.
pub(crate) struct Supervisor<A: App> {
    app: Arc<A>,
    config: Arc<Config>,
    store: Arc<dyn SessionStore>,
    sessions: HashMap<SessionKey, Entry<A>>,
    conns: HashMap<ConnId, actix::Recipient<CloseConnection>>,
    /// Sessions that ended after a store failure with tasks and no tab:
    /// the pause before the latest restart, and which start that restart
    /// was (if it fails too, the next pause doubles; lifecycle.rs).
    restarts: HashMap<SessionKey, (std::time::Duration, u64)>,
    /// Keys with no live session that are being deleted, or released in
    /// the store after their session failed: what waits for them.
    fenced: HashMap<SessionKey, Parked<A>>,
    /// Summary joins of keys with no live session (a live session keeps
    /// its own); see `watch.rs` and docs/protocol.md section 5.8 (summary
    /// joins).
    watchers: HashMap<SessionKey, Watchers>,
    /// Summary joins over all keys, wherever they are kept (every
    /// [`Watchers`] list counts in it).
    summary_joins: Arc<AtomicUsize>,
    /// The commit thread, when the store is durable.
    committer: Option<Committer>,
    /// Threads that run session actors, used in turn.
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: usize,
    /// Sessions started so far (each gets the next number).
    incarnations: u64,
    shutting_down: bool,
    /// The hub's metrics, handed to every session it starts.
    metrics: Arc<crate::metrics::Metrics>,
    /// The journal budget every session it starts counts in.
    journals: Arc<JournalBudget>,
}

impl<A: App> Supervisor<A> {
    pub(crate) fn new(
        app: Arc<A>,
        config: Arc<Config>,
        store: Arc<dyn SessionStore>,
        arbiters: Vec<ArbiterHandle>,
        committer: Option<Committer>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            journals: Arc::new(JournalBudget::new(
                config.journal_total_bytes,
                metrics.clone(),
            )),
            metrics,
            app,
            config,
            store,
            sessions: HashMap::new(),
            conns: HashMap::new(),
            fenced: HashMap::new(),
            restarts: HashMap::new(),
            watchers: HashMap::new(),
            summary_joins: Arc::default(),
            committer,
            arbiters,
            next_arbiter: 0,
            incarnations: 0,
            shutting_down: false,
        }
    }

    /// Answers a join with an error reply.
    fn refuse(join: &Join, reason: Reason, message: &str, new_key: Option<&str>) {
        let response = error_reply(&ErrorResponse {
            reason: reason.into(),
            message: Some(message),
            new_key,
            data: None,
        });
        join.tab_addr.deliver.do_send(Deliver {
            topic: Arc::from(join.key.topic()),
            join_ref: join.join_ref.clone(),
            item: Outgoing::Refused {
                reply_ref: join.reply_ref.clone(),
                response,
                reason,
            },
        });
    }

    /// Starts the session of `key` on the next session thread and registers
    /// it. The session loads itself; joins sent to it meanwhile wait in its
    /// mailbox, in order.
    fn start_session(&mut self, key: &SessionKey, ctx: &mut Context<Self>) {
        self.incarnations += 1;
        let address = ctx.address();
        let setup = SessionSetup {
            key: key.clone(),
            incarnation: self.incarnations,
            app: self.app.clone(),
            config: self.config.clone(),
            store: self.store.clone(),
            control: ControlLink {
                idle: address.clone().recipient(),
                ended: address.recipient(),
                metrics: self.metrics.clone(),
                journals: self.journals.clone(),
                span: tracing::info_span!("session", key = %key),
            },
            watchers: self.hand_over_watchers(key),
            committer: self.committer.clone(),
        };
        let arbiter = self
            .arbiters
            .get(self.next_arbiter % self.arbiters.len().max(1));
        let addr = match arbiter {
            Some(arbiter) => {
                SessionActor::start_in_arbiter(arbiter, move |_| SessionActor::new(setup))
            }
            None => SessionActor::new(setup).start(),
        };
        self.next_arbiter = self.next_arbiter.wrapping_add(1);
        self.sessions.insert(
            key.clone(),
            Entry {
                addr,
                incarnation: self.incarnations,
                tabs: Vec::new(),
                leader: None,
                grace: None,
                stopping: None,
            },
        );
    }

    fn join(&mut self, msg: Join, ctx: &mut Context<Self>) {
        if self.shutting_down {
            return Self::refuse(&msg, Reason::Capacity, "the service is shutting down", None);
        }
        if let Some(parked) = self.parked_for(&msg.key) {
            parked.joins.push(msg);
            return;
        }
        if msg.mode == JoinMode::Summary {
            return self.watch(msg, ctx);
        }
        // A session actor that died (its thread stopped) is forgotten and
        // started afresh from the store, rather than left to swallow joins.
        if self
            .sessions
            .get(&msg.key)
            .is_some_and(|e| !e.addr.connected())
        {
            tracing::error!(key = %msg.key, "session actor is gone; starting it again");
            self.sessions.remove(&msg.key);
        }
        if !self.sessions.contains_key(&msg.key) {
            if self.sessions.len() >= self.config.max_sessions {
                return Self::refuse(
                    &msg,
                    Reason::Capacity,
                    "the service is at its session limit",
                    None,
                );
            }
            self.start_session(&msg.key, ctx);
        }
        let Some(entry) = self.sessions.get_mut(&msg.key) else {
            return;
        };
        let joined_at = entry
            .tabs
            .iter()
            .find(|t| t.tab == msg.tab)
            .map_or_else(std::time::SystemTime::now, |t| t.joined_at);
        let tab_entry = TabEntry {
            tab: msg.tab.clone(),
            conn: msg.conn,
            addr: msg.tab_addr.clone(),
            visibility: msg.visibility,
            activity: msg.activity.clone(),
            joined_at,
            identity: msg.identity.clone(),
        };
        match entry.tabs.iter().position(|t| t.tab == msg.tab) {
            Some(i) if entry.tabs[i].conn == msg.conn => {
                tracing::debug!(key = %msg.key, tab = %msg.tab, "rejoin");
                entry.tabs[i] = tab_entry;
            }
            Some(i) if entry.tabs[i].conn > msg.conn => {
                // A late join from an older connection of a page that has
                // already reconnected: the newer connection keeps the tab,
                // and the older one (a dead socket's late frame, or a
                // duplicate) is closed, never the newer one.
                tracing::info!(key = %msg.key, tab = %msg.tab, "join from an older connection refused; closing it");
                msg.tab_addr.close.do_send(CloseConnection {
                    code: CloseCode::Replaced,
                });
                return;
            }
            Some(i) => {
                // The same page on a newer connection: it takes the tab's
                // place (leader role and chains included); the old socket,
                // perhaps dead but not yet noticed, is closed with 4001.
                tracing::info!(key = %msg.key, tab = %msg.tab, "takeover by a newer connection");
                let old = std::mem::replace(&mut entry.tabs[i], tab_entry);
                old.addr.close.do_send(CloseConnection {
                    code: CloseCode::Replaced,
                });
            }
            None => {
                if entry.tabs.len() >= self.config.max_tabs_per_session {
                    let m = format!(
                        "at most {} tabs per session",
                        self.config.max_tabs_per_session
                    );
                    return Self::refuse(&msg, Reason::TooManyTabs, &m, None);
                }
                if self.config.new_key_on_duplicate && !entry.tabs.is_empty() {
                    let fresh = SessionKey::random();
                    tracing::info!(key = %msg.key, tab = %msg.tab, "duplicate tab sent to a new key");
                    return Self::refuse(
                        &msg,
                        Reason::NewKey,
                        "this session is open in another tab",
                        Some(fresh.as_str()),
                    );
                }
                tracing::info!(key = %msg.key, tab = %msg.tab, tabs = entry.tabs.len() + 1, "join");
                entry.tabs.push(tab_entry);
            }
        }
        if let Some(grace) = entry.grace.take() {
            ctx.cancel_future(grace);
        }
        if entry.elect() {
            tracing::info!(key = %msg.key, leader = ?entry.leader, "leader elected");
        }
        entry.addr.do_send(Attach {
            tab: msg.tab,
            conn: msg.conn,
            tab_addr: msg.tab_addr.deliver,
            join_ref: msg.join_ref,
            reply_ref: msg.reply_ref,
            cursor: msg.cursor,
            leader: entry.leader.clone(),
            tabs: entry.tabs.len(),
            identity: msg.identity,
            visibility: msg.visibility,
        });
    }
}

impl<A: App> Actor for Supervisor<A> {
    type Context = Context<Self>;

    /// Starts the sessions whose restartable tasks were running when the
    /// service last stopped, so those tasks go on at once, not at the next
    /// join, and, with a store shared by several nodes, those no node owns
    /// every lease time. The store is listed on the blocking pool.
    fn started(&mut self, ctx: &mut Self::Context) {
        self.start_sessions_with_tasks(ctx);
        // With a store shared by several nodes, a node that died leaves
        // sessions with tasks and no owner: every node looks for them.
        if let Some(every) = self.store.bus().map(|bus| 3 * bus.check_every()) {
            ctx.run_interval(every, |act, ctx| act.start_sessions_with_tasks(ctx));
        }
    }
}

impl<A: App> Handler<Join> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) {
        self.join(msg, ctx);
    }
}
