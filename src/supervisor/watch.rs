//! Summary joins as the control plane keeps them; the wire is
//! docs/protocol.md section 5.8 (summary joins).
//!
//! The supervisor owns the registry of watchers of every key (they outlive
//! a session's stops); a live session gets them as a projection (its setup,
//! `Watch`, `Unwatch`). A join to a live session is answered by the session;
//! one to a stopped session (or to a session that declines because its
//! store failed) is answered from the store's saved summary, read on the
//! blocking pool, so the supervisor never waits. Either way every summary
//! join gets a reply.

use std::sync::Arc;

use actix::{ActorFutureExt, AsyncContext, Context, WrapFuture};

use super::Supervisor;
use crate::app::App;
use crate::ids::{ConnId, SessionKey, TabId};
use crate::messages::{Deliver, Join, Outgoing, Unwatch, Watch, WatchOutcome, Watcher};
use crate::protocol::reply::{error_reply, ok_reply, ErrorResponse, SummaryReply};
use crate::protocol::Reason;
use crate::store::blocking;

impl<A: App> Supervisor<A> {
    /// Registers a summary join and sees that it is answered.
    pub(super) fn watch(&mut self, msg: Join, ctx: &mut Context<Self>) {
        let watcher = Watcher {
            tab: msg.tab.clone(),
            conn: msg.conn,
            addr: msg.tab_addr.deliver.clone(),
            join_ref: msg.join_ref.clone(),
        };
        let list = self.watchers.entry(msg.key.clone()).or_default();
        list.retain(|w| !(w.tab == watcher.tab && w.conn == watcher.conn));
        list.push(watcher.clone());
        self.answer_watch(msg.key, watcher, msg.reply_ref, ctx);
    }

    /// Asks the live session, if any, to answer; otherwise (or if it
    /// declines) answers from the store.
    fn answer_watch(
        &mut self,
        key: SessionKey,
        watcher: Watcher,
        reply_ref: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let Some(entry) = self.sessions.get(&key) else {
            return self.answer_from_store(key, watcher, reply_ref, false, ctx);
        };
        let asking = entry.addr.send(Watch {
            watcher: watcher.clone(),
            reply_ref: reply_ref.clone(),
        });
        ctx.spawn(asking.into_actor(self).map(move |answer, act, ctx| {
            if !matches!(answer, Ok(WatchOutcome::Answered)) {
                act.answer_from_store(key, watcher, reply_ref, true, ctx);
            }
        }));
    }

    /// Reads the saved summary on the blocking pool and replies with it,
    /// if the summary join is still there by then. If the session started
    /// meanwhile (and had not declined), it answers instead: its summary
    /// may be newer than the store's.
    fn answer_from_store(
        &mut self,
        key: SessionKey,
        watcher: Watcher,
        reply_ref: Option<String>,
        declined: bool,
        ctx: &mut Context<Self>,
    ) {
        let store = self.store.clone();
        let k = key.clone();
        let reading = blocking(Some(&key), move || store.load_summary(&k));
        ctx.spawn(reading.into_actor(self).map(move |summary, act, ctx| {
            let still_there = act.watchers.get(&key).is_some_and(|list| {
                list.iter().any(|w| {
                    w.tab == watcher.tab && w.conn == watcher.conn && w.join_ref == watcher.join_ref
                })
            });
            if !still_there {
                return;
            }
            if !declined && act.sessions.contains_key(&key) {
                return act.answer_watch(key, watcher, reply_ref, ctx);
            }
            let item = match summary {
                Ok(summary) => Outgoing::Joined {
                    reply_ref,
                    link: None,
                    response: ok_reply(&SummaryReply {
                        tab_id: &watcher.tab,
                        summary: &summary.unwrap_or(serde_json::Value::Null),
                    }),
                },
                Err(e) => {
                    tracing::error!(key = %key, error = %e, "could not load the summary");
                    act.unwatch(&key, &watcher.tab, watcher.conn);
                    Outgoing::Refused {
                        reply_ref,
                        response: error_reply(&ErrorResponse::new(
                            Reason::StoreError,
                            "the summary could not be loaded",
                        )),
                        reason: Reason::StoreError,
                    }
                }
            };
            watcher.addr.do_send(Deliver {
                topic: Arc::from(key.topic()),
                join_ref: watcher.join_ref.clone(),
                item,
            });
        }));
    }

    /// Ends a summary join, if `(tab, conn)` has one on `key`.
    pub(super) fn unwatch(&mut self, key: &SessionKey, tab: &TabId, conn: ConnId) {
        let Some(list) = self.watchers.get_mut(key) else {
            return;
        };
        let before = list.len();
        list.retain(|w| !(&w.tab == tab && w.conn == conn));
        let removed = list.len() != before;
        if list.is_empty() {
            self.watchers.remove(key);
        }
        if let (true, Some(entry)) = (removed, self.sessions.get(key)) {
            entry.addr.do_send(Unwatch {
                tab: tab.clone(),
                conn,
            });
        }
    }
}
