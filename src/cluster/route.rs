//! The tab side of [`Node`]: a hub with a shared store points its tabs'
//! joins, leaves and visibility changes here instead of at the
//! supervisor. Each join asks the bus who owns its session (taking it if
//! nobody does, `NodeBus::claim`): if this node, the join goes on to the
//! supervisor; if another node, it goes there over the bus, and so do the
//! join's leave, visibility changes, events and cancels, while what the
//! owner delivers comes back to the tab. Messages of one join wait while
//! its owner is asked, so they keep their order.

use std::sync::Arc;

use actix::{ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};

use super::node::Node;
use super::wire::{Body, Item, RemoteJoin};
use crate::ids::{ConnId, SessionKey};
use crate::messages::{
    Cancel, CloseConnection, Deliver, Join, Leave, Outgoing, QueueDepth, SessionLink,
    SetVisibility, Submit, TabAddr, TabInbox,
};
use crate::protocol::close::CloseCode;
use crate::protocol::reply::{error_reply, ErrorResponse};
use crate::protocol::{Reason, SESSION_TOPIC_PREFIX};
use crate::store::StoreError;

/// A join of this node's tab whose session another node owns.
pub(crate) struct Routed {
    pub(super) owner: Arc<str>,
    join_ref: Arc<str>,
    /// The join frame's `ref` until the owner answered the join.
    unanswered: Option<Option<String>>,
    addr: TabAddr,
    /// The gauge the tab's link carries; the owner checks the real queue,
    /// so each place reserved here is given back at once.
    queue: Arc<QueueDepth>,
}

impl Routed {
    /// The owner can no longer serve the join: the tab is told to rejoin
    /// (`phx_error`), or, if the join was not answered yet, it is refused
    /// with `store_error` (the client retries); either way its leave comes
    /// back here.
    pub(super) fn end(&self, key: &SessionKey) {
        let item = match &self.unanswered {
            None => Outgoing::Rejoin,
            Some(reply_ref) => Outgoing::Refused {
                reply_ref: reply_ref.clone(),
                response: error_reply(&ErrorResponse::new(
                    Reason::StoreError,
                    "the node that owns the session could not be reached; retry",
                )),
                reason: Reason::StoreError,
            },
        };
        self.addr.deliver.do_send(Deliver {
            topic: Arc::from(key.topic()),
            join_ref: self.join_ref.clone(),
            item,
        });
    }
}

impl Node {
    /// The owner of the join's session is known: send the join there,
    /// after ending the join's earlier membership if it was elsewhere.
    fn claimed(&mut self, id: (ConnId, SessionKey), owner: Result<String, StoreError>) {
        let Some(join) = self.claiming.remove(&id) else {
            return;
        };
        let owner: Arc<str> = match owner {
            Ok(owner) => Arc::from(owner),
            Err(e) => {
                // The supervisor's session load will fail the same way,
                // with the join's `store_error` reply.
                tracing::warn!(key = %id.1, error = %e, "could not ask who owns the session");
                self.me.clone()
            }
        };
        let before = self.remote.remove(&id);
        match &before {
            Some(r) if r.owner != owner => self.outbox().send(
                &r.owner,
                Body::Leave {
                    conn: id.0 .0,
                    key: id.1.clone(),
                },
            ),
            None if owner != self.me => self.guests_shared.supervisor.leave.do_send(Leave {
                key: id.1.clone(),
                tab: join.tab.clone(),
                conn: id.0,
            }),
            _ => {}
        }
        if owner == self.me {
            return self.guests_shared.supervisor.join.do_send(join);
        }
        self.stats
            .joins_forwarded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = Body::Join(Box::new(RemoteJoin {
            conn: id.0 .0,
            key: id.1.clone(),
            tab: join.tab.clone(),
            identity: (self.identities.encode)(&join.identity),
            join_ref: join.join_ref.clone(),
            reply_ref: join.reply_ref.clone(),
            mode: join.mode,
            cursor: join.cursor,
            visibility: join.visibility,
        }));
        self.outbox().send(&owner, body);
        let routed = Routed {
            owner,
            join_ref: join.join_ref,
            unanswered: Some(join.reply_ref),
            addr: join.tab_addr,
            queue: before.map_or_else(Arc::default, |b| b.queue),
        };
        self.remote.insert(id, routed);
    }

    /// Tab side: what an owner delivers to one of this node's joins. Only
    /// the join's current owner is heard: a join that moved ignores its
    /// old owner.
    pub(super) fn deliver_to_tab(
        &mut self,
        from: &Arc<str>,
        conn: ConnId,
        topic: Arc<str>,
        join_ref: Arc<str>,
        item: Item,
        ctx: &mut Context<Self>,
    ) {
        let Some(key) = topic
            .strip_prefix(SESSION_TOPIC_PREFIX)
            .and_then(|k| SessionKey::parse(k).ok())
        else {
            return;
        };
        let Some(routed) = self
            .remote
            .get_mut(&(conn, key))
            .filter(|r| r.owner == *from && r.join_ref == join_ref)
        else {
            return;
        };
        if matches!(item, Item::Joined { .. } | Item::Refused { .. }) {
            routed.unanswered = None;
        }
        let node = ctx.address();
        let queue = routed.queue.clone();
        let link = move || SessionLink {
            submit: node.clone().recipient(),
            cancel: node.recipient(),
            queue,
        };
        if let Some(item) = item.into_outgoing(link) {
            self.stats
                .delivered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            routed.addr.deliver.do_send(Deliver {
                topic,
                join_ref,
                item,
            });
        }
    }

    /// Tab side: an owner closes a connection. If it shuts down (1012),
    /// only the joins it served rejoin; otherwise (4001: a newer
    /// connection of the tab took over) the connection closes.
    pub(super) fn close_tab(&mut self, from: &Arc<str>, conn: ConnId, code: u16) {
        let served = self
            .remote
            .iter()
            .filter(|((c, _), r)| *c == conn && r.owner == *from);
        match CloseCode::from_code(code) {
            Some(CloseCode::ServiceRestart) | None => {
                for ((_, key), routed) in served {
                    routed.end(key);
                }
            }
            Some(code) => {
                if let Some((_, routed)) = served.into_iter().next() {
                    routed.addr.close.do_send(CloseConnection { code });
                }
            }
        }
    }

    /// The remote join `(conn, key)` if `join_ref` is its current join.
    fn routed(&self, conn: ConnId, key: &SessionKey, join_ref: &str) -> Option<&Routed> {
        self.remote
            .get(&(conn, key.clone()))
            .filter(|r| &*r.join_ref == join_ref)
    }
}

impl Handler<Join> for Node {
    type Result = ();

    fn handle(&mut self, join: Join, ctx: &mut Self::Context) {
        let id = (join.conn, join.key.clone());
        // A claim in flight answers the newest join of the topic.
        if self.claiming.insert(id.clone(), join).is_some() {
            return;
        }
        let Some(bus) = self.bus() else {
            return;
        };
        let asking = bus.claim(&id.1);
        ctx.spawn(
            asking
                .into_actor(self)
                .map(move |owner, act, _ctx| act.claimed(id, owner)),
        );
    }
}

impl Handler<Leave> for Node {
    type Result = ();

    fn handle(&mut self, leave: Leave, _ctx: &mut Self::Context) {
        let id = (leave.conn, leave.key.clone());
        self.claiming.remove(&id);
        match self.remote.remove(&id) {
            Some(routed) => self.outbox().send(
                &routed.owner,
                Body::Leave {
                    conn: leave.conn.0,
                    key: leave.key,
                },
            ),
            None => self.guests_shared.supervisor.leave.do_send(leave),
        }
    }
}

impl Handler<SetVisibility> for Node {
    type Result = ();

    fn handle(&mut self, msg: SetVisibility, _ctx: &mut Self::Context) {
        let id = (msg.conn, msg.key.clone());
        if let Some(join) = self.claiming.get_mut(&id) {
            join.visibility = msg.visibility;
            return;
        }
        match self.remote.get(&id) {
            Some(routed) => {
                let owner = routed.owner.clone();
                let body = Body::Visibility {
                    conn: msg.conn.0,
                    key: msg.key,
                    visibility: msg.visibility,
                };
                self.outbox().send(&owner, body);
            }
            None => self.guests_shared.supervisor.visibility.do_send(msg),
        }
    }
}

impl Handler<Submit> for Node {
    type Result = ();

    fn handle(&mut self, msg: Submit, _ctx: &mut Self::Context) {
        let Some(routed) = self.routed(msg.conn, &msg.key, &msg.join_ref) else {
            return rejoin(&msg.reply_to, &msg.key, msg.join_ref);
        };
        routed.queue.unsubmit();
        let owner = routed.owner.clone();
        let body = Body::Submit {
            conn: msg.conn.0,
            key: msg.key,
            join_ref: msg.join_ref,
            reply_ref: msg.reply_ref,
            event: msg.event,
        };
        self.outbox().send(&owner, body);
    }
}

impl Handler<Cancel> for Node {
    type Result = ();

    fn handle(&mut self, msg: Cancel, _ctx: &mut Self::Context) {
        let Some(routed) = self.routed(msg.conn, &msg.key, &msg.join_ref) else {
            return rejoin(&msg.reply_to, &msg.key, msg.join_ref);
        };
        let owner = routed.owner.clone();
        let body = Body::Cancel {
            conn: msg.conn.0,
            key: msg.key,
            join_ref: msg.join_ref,
            reply_ref: msg.reply_ref,
            task: msg.task,
        };
        self.outbox().send(&owner, body);
    }
}

/// A tab's message for a join this node no longer routes (the join moved
/// or ended meanwhile): the tab is told to rejoin (`phx_error`).
fn rejoin(tab: &TabInbox, key: &SessionKey, join_ref: Arc<str>) {
    tab.do_send(Deliver {
        topic: Arc::from(key.topic()),
        join_ref,
        item: Outgoing::Rejoin,
    });
}
