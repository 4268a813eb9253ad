//! [`Supervisor`]: one per service. The registry of live sessions and of the
//! tabs joined to each; it starts sessions on first join (loading them from
//! the store), authorizes joins, enforces the per-session limits, hands a
//! reconnecting `tab_id` over to its new connection, elects the leader, and
//! saves and stops sessions whose grace time ran out.
//!
//! `lifecycle.rs` holds the grace timer, save-and-stop and shutdown;
//! `election.rs` the leader election.
//!
//! It is told about joins, leaves and visibility; it never sees events or
//! deltas (those go tab -> session -> tabs).

mod election;
mod lifecycle;
mod messages;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::{Actor, Addr, ArbiterHandle, AsyncContext, Context, Handler, SpawnHandle};

use crate::app::{App, JoinRequest};
use crate::config::Config;
use crate::ids::{ConnId, SessionKey, TabId};
use crate::protocol::close::CloseCode;
use crate::protocol::message::{
    error_reply, ok_reply, ErrorResponse, JoinMode, SummaryReply, Visibility,
};
use crate::protocol::reason;
use crate::session::{
    Attach, Detach, SessionActor, SessionSetup, SetLeader, Unwatch, Watch, Watcher,
};
use crate::store::committer::Committer;
use crate::store::Store;
use crate::tab::{CloseConnection, Deliver, Outgoing, TabActor};

use election::{elect, Candidate};
pub use messages::HubStats;
pub(crate) use messages::{
    Join, Leave, SetVisibility, Shutdown, Stats, SupervisorLink, TabGone, TabStarted,
};

/// A tab joined to a session, as the registry keeps it.
struct TabEntry {
    tab: TabId,
    conn: ConnId,
    addr: Addr<TabActor>,
    visibility: Visibility,
    activity: Arc<std::sync::atomic::AtomicU64>,
}

/// A live session in the registry.
struct Entry<A: App> {
    addr: Addr<SessionActor<A>>,
    tabs: Vec<TabEntry>,
    leader: Option<TabId>,
    grace: Option<SpawnHandle>,
    /// `Some` while a [`Stop`] is in flight; joins arriving meanwhile wait
    /// here and are handled when it is answered.
    stopping: Option<Vec<Join>>,
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
                activity: t.activity.load(Ordering::Relaxed),
            })
            .collect();
        let leader = elect(self.leader.as_ref(), &candidates);
        let changed = leader != self.leader;
        self.leader = leader;
        changed
    }
}

/// The service's registry actor. See the module docs.
pub(crate) struct Supervisor<A: App> {
    app: Arc<A>,
    config: Arc<Config>,
    store: Arc<dyn Store>,
    sessions: HashMap<SessionKey, Entry<A>>,
    conns: HashMap<ConnId, Addr<TabActor>>,
    /// Summary joins by key, live session or not (PROTOCOL section 3a).
    watchers: HashMap<SessionKey, Vec<Watcher>>,
    /// The commit thread, when the store is durable.
    committer: Option<Committer>,
    /// Threads that run session actors, used in turn.
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: usize,
    shutting_down: bool,
}

impl<A: App> Supervisor<A> {
    pub(crate) fn new(
        app: Arc<A>,
        config: Arc<Config>,
        store: Arc<dyn Store>,
        arbiters: Vec<ArbiterHandle>,
        committer: Option<Committer>,
    ) -> Self {
        Self {
            app,
            config,
            store,
            sessions: HashMap::new(),
            conns: HashMap::new(),
            watchers: HashMap::new(),
            committer,
            arbiters,
            next_arbiter: 0,
            shutting_down: false,
        }
    }

    fn refuse(join: &Join, reason: &str, message: &str, new_key: Option<&str>) {
        let response = error_reply(&ErrorResponse {
            reason,
            message: Some(message),
            new_key,
        });
        join.tab_addr.do_send(Deliver {
            topic: Arc::from(join.key.topic()),
            join_ref: join.join_ref.clone(),
            item: Outgoing::Refused {
                reply_ref: join.reply_ref.clone(),
                response,
            },
        });
    }

    /// Loads the session from the store and starts its actor on the next
    /// session thread.
    fn start_session(
        &mut self,
        key: &SessionKey,
        ctx: &mut Context<Self>,
    ) -> Result<Addr<SessionActor<A>>, String> {
        let saved = self.store.load(key).map_err(|e| e.to_string())?;
        let setup = SessionSetup {
            key: key.clone(),
            app: self.app.clone(),
            config: self.config.clone(),
            store: self.store.clone(),
            supervisor: ctx.address().recipient(),
            watchers: self.watchers.get(key).cloned().unwrap_or_default(),
            committer: self.committer.clone(),
        };
        let actor = SessionActor::restore(setup, saved).map_err(|e| e.to_string())?;
        let addr = match self
            .arbiters
            .get(self.next_arbiter % self.arbiters.len().max(1))
        {
            Some(arbiter) => SessionActor::start_in_arbiter(arbiter, move |_| actor),
            None => actor.start(),
        };
        self.next_arbiter = self.next_arbiter.wrapping_add(1);
        Ok(addr)
    }

    fn join(&mut self, msg: Join, ctx: &mut Context<Self>) {
        if self.shutting_down {
            return Self::refuse(&msg, reason::CAPACITY, "the service is shutting down", None);
        }
        if let Some(parked) = self
            .sessions
            .get_mut(&msg.key)
            .and_then(|e| e.stopping.as_mut())
        {
            parked.push(msg);
            return;
        }
        let request = JoinRequest {
            key: &msg.key,
            tab_id: &msg.tab,
            params: &msg.params,
            connect_params: &msg.connect_params,
        };
        if let Err(why) = self.app.authorize(&request) {
            tracing::info!(key = %msg.key, tab = %msg.tab, why, "join refused: unauthorized");
            return Self::refuse(
                &msg,
                reason::UNAUTHORIZED,
                "this join is not authorized",
                None,
            );
        }
        if msg.mode == JoinMode::Summary {
            return self.watch(msg);
        }
        // A session actor that died (its thread stopped) is forgotten and
        // reloaded from the store, rather than left to swallow joins.
        if self
            .sessions
            .get(&msg.key)
            .is_some_and(|e| !e.addr.connected())
        {
            tracing::error!(key = %msg.key, "session actor is gone; reloading it from the store");
            self.sessions.remove(&msg.key);
        }
        if !self.sessions.contains_key(&msg.key) {
            if self.sessions.len() >= self.config.max_sessions {
                return Self::refuse(
                    &msg,
                    reason::CAPACITY,
                    "the service is at its session limit",
                    None,
                );
            }
            match self.start_session(&msg.key, ctx) {
                Ok(addr) => {
                    self.sessions.insert(
                        msg.key.clone(),
                        Entry {
                            addr,
                            tabs: Vec::new(),
                            leader: None,
                            grace: None,
                            stopping: None,
                        },
                    );
                }
                Err(e) => {
                    tracing::error!(key = %msg.key, error = %e, "could not load session");
                    return Self::refuse(
                        &msg,
                        reason::STORE_ERROR,
                        "the session could not be loaded",
                        None,
                    );
                }
            }
        }
        let Some(entry) = self.sessions.get_mut(&msg.key) else {
            return;
        };
        let tab_entry = TabEntry {
            tab: msg.tab.clone(),
            conn: msg.conn,
            addr: msg.tab_addr.clone(),
            visibility: msg.visibility,
            activity: msg.activity.clone(),
        };
        match entry.tabs.iter().position(|t| t.tab == msg.tab) {
            Some(i) if entry.tabs[i].conn == msg.conn => {
                tracing::debug!(key = %msg.key, tab = %msg.tab, "rejoin");
                entry.tabs[i] = tab_entry;
            }
            Some(i) => {
                // The same page on a newer connection: it takes the tab's
                // place (leader role and chains included); the old socket,
                // perhaps dead but not yet noticed, is closed with 4001.
                tracing::info!(key = %msg.key, tab = %msg.tab, "takeover by a newer connection");
                let old = std::mem::replace(&mut entry.tabs[i], tab_entry);
                old.addr.do_send(CloseConnection {
                    code: CloseCode::Replaced,
                });
            }
            None => {
                if entry.tabs.len() >= self.config.max_tabs_per_session {
                    let m = format!(
                        "at most {} tabs per session",
                        self.config.max_tabs_per_session
                    );
                    return Self::refuse(&msg, reason::TOO_MANY_TABS, &m, None);
                }
                if self.config.new_key_on_duplicate && !entry.tabs.is_empty() {
                    let fresh = SessionKey::random();
                    tracing::info!(key = %msg.key, tab = %msg.tab, "duplicate tab sent to a new key");
                    return Self::refuse(
                        &msg,
                        reason::NEW_KEY,
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
            tab_addr: msg.tab_addr.recipient(),
            join_ref: msg.join_ref,
            reply_ref: msg.reply_ref,
            cursor: msg.cursor,
            leader: entry.leader.clone(),
        });
    }
}

impl<A: App> Supervisor<A> {
    /// A summary join: registered here (it outlives the session's stops)
    /// and with the live session, if any, which replies. A stopped session
    /// is not started: its saved summary is the reply.
    fn watch(&mut self, msg: Join) {
        let watcher = Watcher {
            tab: msg.tab.clone(),
            conn: msg.conn,
            addr: msg.tab_addr.clone().recipient(),
            join_ref: msg.join_ref.clone(),
        };
        if let Some(entry) = self.sessions.get(&msg.key) {
            entry.addr.do_send(Watch {
                watcher: watcher.clone(),
                reply_ref: msg.reply_ref.clone(),
            });
        } else {
            let summary = match self.store.load_summary(&msg.key) {
                Ok(summary) => summary.unwrap_or(serde_json::Value::Null),
                Err(e) => {
                    tracing::error!(key = %msg.key, error = %e, "could not load the summary");
                    return Self::refuse(
                        &msg,
                        reason::STORE_ERROR,
                        "the summary could not be loaded",
                        None,
                    );
                }
            };
            let response = ok_reply(&SummaryReply {
                tab_id: &msg.tab,
                summary: &summary,
            });
            msg.tab_addr.do_send(Deliver {
                topic: Arc::from(msg.key.topic()),
                join_ref: msg.join_ref.clone(),
                item: Outgoing::Joined {
                    reply_ref: msg.reply_ref.clone(),
                    link: None,
                    response,
                },
            });
        }
        let list = self.watchers.entry(msg.key).or_default();
        list.retain(|w| !(w.tab == watcher.tab && w.conn == watcher.conn));
        list.push(watcher);
    }

    /// Ends a summary join, if `(tab, conn)` has one on `key`.
    fn unwatch(&mut self, key: &SessionKey, tab: &TabId, conn: ConnId) {
        let Some(list) = self.watchers.get_mut(key) else {
            return;
        };
        list.retain(|w| !(&w.tab == tab && w.conn == conn));
        if list.is_empty() {
            self.watchers.remove(key);
        }
        if let Some(entry) = self.sessions.get(key) {
            entry.addr.do_send(Unwatch {
                tab: tab.clone(),
                conn,
            });
        }
    }
}

impl<A: App> Actor for Supervisor<A> {
    type Context = Context<Self>;

    /// Loads the sessions whose restartable tasks were running when the
    /// service last stopped, so those tasks go on at once, not at the next
    /// join. With no tab they stop after the grace time once their tasks end.
    fn started(&mut self, ctx: &mut Self::Context) {
        let keys = match self.store.sessions_with_tasks() {
            Ok(keys) => keys,
            Err(e) => {
                tracing::error!(error = %e, "could not list sessions with running tasks");
                return;
            }
        };
        for key in keys {
            if self.sessions.len() >= self.config.max_sessions {
                tracing::warn!(key = %key, "at the session limit; its tasks restart at its next join");
                continue;
            }
            match self.start_session(&key, ctx) {
                Ok(addr) => {
                    tracing::info!(key = %key, "session loaded to restart its tasks");
                    self.sessions.insert(
                        key.clone(),
                        Entry {
                            addr,
                            tabs: Vec::new(),
                            leader: None,
                            grace: None,
                            stopping: None,
                        },
                    );
                    self.start_grace(&key, ctx);
                }
                Err(e) => {
                    tracing::error!(key = %key, error = %e, "could not load a session with running tasks")
                }
            }
        }
    }
}

impl<A: App> Handler<Join> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) {
        self.join(msg, ctx);
    }
}

impl<A: App> Handler<Leave> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: Leave, ctx: &mut Self::Context) {
        self.unwatch(&msg.key, &msg.tab, msg.conn);
        let Some(entry) = self.sessions.get_mut(&msg.key) else {
            return;
        };
        if let Some(parked) = entry.stopping.as_mut() {
            parked.retain(|j| !(j.tab == msg.tab && j.conn == msg.conn));
        }
        // A leave from a connection that was taken over is stale.
        let Some(i) = entry
            .tabs
            .iter()
            .position(|t| t.tab == msg.tab && t.conn == msg.conn)
        else {
            return;
        };
        entry.tabs.remove(i);
        if entry.elect() {
            tracing::info!(key = %msg.key, leader = ?entry.leader, "leader re-elected");
        }
        tracing::info!(key = %msg.key, tab = %msg.tab, tabs = entry.tabs.len(), "leave");
        entry.addr.do_send(Detach {
            tab: msg.tab,
            conn: msg.conn,
            leader: entry.leader.clone(),
        });
        if entry.tabs.is_empty() {
            self.start_grace(&msg.key, ctx);
        }
    }
}

impl<A: App> Handler<SetVisibility> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: SetVisibility, _ctx: &mut Self::Context) {
        let Some(entry) = self.sessions.get_mut(&msg.key) else {
            return;
        };
        let Some(tab) = entry
            .tabs
            .iter_mut()
            .find(|t| t.tab == msg.tab && t.conn == msg.conn)
        else {
            return;
        };
        tab.visibility = msg.visibility;
        if entry.elect() {
            tracing::info!(key = %msg.key, leader = ?entry.leader, "leader re-elected on visibility");
            entry.addr.do_send(SetLeader {
                leader: entry.leader.clone(),
            });
        }
    }
}

impl<A: App> Handler<TabStarted> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: TabStarted, _ctx: &mut Self::Context) {
        if self.shutting_down {
            msg.addr.do_send(CloseConnection {
                code: CloseCode::ServiceRestart,
            });
        } else {
            self.conns.insert(msg.conn, msg.addr);
        }
    }
}

impl<A: App> Handler<TabGone> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: TabGone, _ctx: &mut Self::Context) {
        self.conns.remove(&msg.conn);
    }
}

impl<A: App> Handler<Stats> for Supervisor<A> {
    type Result = actix::MessageResult<Stats>;

    fn handle(&mut self, _msg: Stats, _ctx: &mut Self::Context) -> Self::Result {
        actix::MessageResult(HubStats {
            sessions: self.sessions.len(),
            connections: self.conns.len(),
            tabs: self.sessions.values().map(|e| e.tabs.len()).sum(),
            summary_joins: self.watchers.values().map(Vec::len).sum(),
        })
    }
}
