//! Summary joins as the control plane routes them; the wire is
//! docs/protocol.md section 5.8 (summary joins).
//!
//! A key's summary joins are kept in one place at a time: by its live
//! session, or here while the key has none (`Supervisor::watchers`). The
//! list moves whole: to a session when it starts, back here in the
//! session's answer to its grace stop, minus the joins that ended while it
//! stopped (the session may stop before it hears of them).
//!
//! A summary join to a live session is the session's to answer. One to a
//! key with no live session is kept here and answered from the store's
//! saved summary, read on the blocking pool so the supervisor never waits;
//! if a session starts meanwhile, it takes the join along and answers it
//! once loaded. Either way every summary join gets one reply.

use std::sync::Arc;

use actix::{ActorFutureExt, AsyncContext, Context, WrapFuture};

use super::Supervisor;
use crate::app::App;
use crate::ids::{ConnId, SessionKey, TabId};
use crate::messages::{Deliver, Join, Outgoing, Unwatch, Watch, Watcher, Watchers};
use crate::protocol::reply::{error_reply, ok_reply, ErrorResponse, SummaryReply};
use crate::protocol::Reason;
use crate::store::blocking;

impl<A: App> Supervisor<A> {
    /// Sees that a summary join is kept and answered: by the live session
    /// of its key, or here from the store.
    pub(super) fn watch(&mut self, msg: Join, ctx: &mut Context<Self>) {
        let watcher = Watcher {
            tab: msg.tab,
            conn: msg.conn,
            addr: msg.tab_addr.deliver,
            join_ref: msg.join_ref,
            reply_ref: msg.reply_ref,
            answered: false,
        };
        let Some(entry) = self.sessions.get(&msg.key) else {
            return self.watch_from_store(msg.key, watcher, ctx);
        };
        // A session actor that is gone cannot take it: the join is told to
        // rejoin, which reaches a supervisor that has forgotten the actor
        // (joins check it) or has started the key afresh.
        let asking = entry.addr.send(Watch {
            watcher: watcher.clone(),
        });
        let topic: Arc<str> = Arc::from(msg.key.topic());
        ctx.spawn(asking.into_actor(self).map(move |sent, _, _| {
            if sent.is_err() {
                watcher.addr.do_send(Deliver {
                    topic,
                    join_ref: watcher.join_ref,
                    item: Outgoing::Rejoin,
                });
            }
        }));
    }

    /// Keeps a summary join of a key with no live session, and answers it
    /// from the store's saved summary, unless it ended or a session took
    /// it (and so answers it) before the summary was read.
    fn watch_from_store(&mut self, key: SessionKey, watcher: Watcher, ctx: &mut Context<Self>) {
        let (tab, conn, join_ref) = (watcher.tab.clone(), watcher.conn, watcher.join_ref.clone());
        self.watchers_of(&key).upsert(watcher);
        let store = self.store.clone();
        let k = key.clone();
        let reading = blocking(Some(&key), move || store.load_summary(&k));
        ctx.spawn(reading.into_actor(self).map(move |summary, act, _| {
            let Some(watcher) = act
                .watchers
                .get_mut(&key)
                .and_then(|list| list.answer(&tab, conn, &join_ref))
            else {
                return;
            };
            let item = match summary {
                Ok(summary) => Outgoing::Joined {
                    reply_ref: watcher.reply_ref.clone(),
                    link: None,
                    response: ok_reply(&SummaryReply {
                        tab_id: &watcher.tab,
                        summary: &summary.unwrap_or(serde_json::Value::Null),
                    }),
                },
                Err(e) => {
                    tracing::error!(key = %key, error = %e, "could not load the summary");
                    act.unwatch(&key, &tab, conn);
                    Outgoing::Refused {
                        reply_ref: watcher.reply_ref.clone(),
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

    /// The list of summary joins kept here for `key` (which has no live
    /// session), made if there is none.
    fn watchers_of(&mut self, key: &SessionKey) -> &mut Watchers {
        let count = &self.summary_joins;
        self.watchers
            .entry(key.clone())
            .or_insert_with(|| Watchers::new(count.clone()))
    }

    /// Ends `(tab, conn)`'s summary join on `key`, if it has one: here, or
    /// in the key's live session, which is told (a leave of a full join
    /// never comes here). A join that ends while the session stops is
    /// also noted, to be left out of the list the session hands back.
    pub(super) fn unwatch(&mut self, key: &SessionKey, tab: &TabId, conn: ConnId) {
        if let Some(entry) = self.sessions.get_mut(key) {
            entry.addr.do_send(Unwatch {
                tab: tab.clone(),
                conn,
            });
            if let Some(stopping) = entry.stopping.as_mut() {
                stopping.unwatched.push((tab.clone(), conn));
            }
            return;
        }
        let Some(list) = self.watchers.get_mut(key) else {
            return;
        };
        list.remove(tab, conn);
        if list.is_empty() {
            self.watchers.remove(key);
        }
    }

    /// Takes back the summary joins of `key`'s session, which has stopped
    /// (its answer to a stop), leaving out those in `unwatched` (they
    /// ended while it stopped).
    pub(super) fn keep_watchers(
        &mut self,
        key: &SessionKey,
        mut handed_back: Watchers,
        unwatched: &[(TabId, ConnId)],
    ) {
        for (tab, conn) in unwatched {
            handed_back.remove(tab, *conn);
        }
        if handed_back.is_empty() {
            return;
        }
        self.watchers_of(key).merge(handed_back);
    }

    /// Hands the summary joins kept here for `key` to its session, which
    /// is starting.
    pub(super) fn hand_over_watchers(&mut self, key: &SessionKey) -> Watchers {
        self.watchers
            .remove(key)
            .unwrap_or_else(|| Watchers::new(self.summary_joins.clone()))
    }
}
