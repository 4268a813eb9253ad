//! [`Guest`]: on a session's owner, one per connection of another node
//! that joined sessions owned here. To the supervisor and the sessions it
//! is a tab like any other (a [`TabAddr`] that joins, leaves, submits and
//! receives); what they deliver to it goes to the tab's node over the bus,
//! and what the tab sends arrives from there. The supervisor's election,
//! caps, grace and takeovers so span nodes unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message};

use super::links::Outbox;
use super::wire::{Body, Item, RemoteJoin};
use crate::config::Config;
use crate::ids::{ConnId, SessionKey, TabId};
use crate::messages::{
    ActivityClock, ActivityStamp, Cancel, CloseConnection, Deliver, Identity, Join, Leave,
    Outgoing, SessionLink, SetVisibility, Submit, SupervisorLink, TabAddr, TabGone, TabInbox,
    TabStarted,
};
use crate::protocol::reply::{error_reply, ErrorResponse};
use crate::protocol::{Reason, SESSION_TOPIC_PREFIX};

/// What every guest of a node shares.
pub(crate) struct GuestShared {
    /// The node's supervisor (the real one, not the node's router).
    pub(crate) supervisor: SupervisorLink,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) clock: ActivityClock,
    pub(crate) config: Arc<Config>,
}

/// One join of a guest.
struct GuestJoin {
    join_ref: Arc<str>,
    /// The session's link, once its ok reply passed (full joins).
    link: Option<SessionLink>,
    activity: ActivityStamp,
}

/// A connection of another node, as the owner's actors see it; see the
/// module docs.
pub(crate) struct Guest {
    /// The tab's node.
    peer: Arc<str>,
    /// The connection's id on the tab's node.
    remote_conn: u64,
    /// Its id here, from this node's counter: takeovers compare the
    /// arrival order of connections at the owner.
    conn: ConnId,
    tab: TabId,
    identity: Identity,
    joins: HashMap<SessionKey, GuestJoin>,
    shared: Arc<GuestShared>,
}

/// Sent by the node for each message the tab's node sent about this
/// connection (a join, leave, visibility change, event or cancel).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FromTab(pub(crate) Body);

/// Sent by the node when the tab's node died, or messages between the
/// two were lost: every join ends here. `notify`: the tab's node is alive
/// and its tabs are told to rejoin.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PeerLost {
    pub(crate) notify: bool,
}

impl Guest {
    pub(crate) fn new(
        peer: Arc<str>,
        join: &RemoteJoin,
        conn: ConnId,
        identity: Identity,
        shared: Arc<GuestShared>,
    ) -> Self {
        Self {
            peer,
            remote_conn: join.conn,
            conn,
            tab: join.tab.clone(),
            identity,
            joins: HashMap::new(),
            shared,
        }
    }

    /// Sends `item` for the join of `key` to the tab's node.
    fn send(&self, key: &SessionKey, join_ref: Arc<str>, item: Item) {
        self.shared.outbox.send(
            &self.peer,
            Body::Deliver {
                conn: self.remote_conn,
                topic: Arc::from(key.topic()),
                join_ref,
                item,
            },
        );
    }

    fn refuse_push(&self, key: &SessionKey, join_ref: Arc<str>, reply_ref: Option<String>) {
        let response = error_reply(&ErrorResponse::new(
            Reason::QueueFull,
            "the session's queue is full; retry later",
        ));
        let item = Item::Reply {
            reply_ref,
            response,
        };
        self.send(key, join_ref, item);
    }

    fn join(&mut self, join: RemoteJoin, ctx: &mut Context<Self>) {
        let activity = self
            .joins
            .get(&join.key)
            .map_or_else(|| self.shared.clock.stamp(), |j| j.activity.clone());
        self.joins.insert(
            join.key.clone(),
            GuestJoin {
                join_ref: join.join_ref.clone(),
                link: None,
                activity: activity.clone(),
            },
        );
        let addr = ctx.address();
        self.shared.supervisor.join.do_send(Join {
            key: join.key,
            tab: self.tab.clone(),
            conn: self.conn,
            identity: self.identity.clone(),
            tab_addr: TabAddr {
                deliver: TabInbox::direct(addr.clone().recipient()),
                close: addr.recipient(),
            },
            join_ref: join.join_ref,
            reply_ref: join.reply_ref,
            mode: join.mode,
            cursor: join.cursor,
            visibility: join.visibility,
            activity,
        });
    }

    fn leave(&mut self, key: &SessionKey, ctx: &mut Context<Self>) {
        if self.joins.remove(key).is_some() {
            self.shared.supervisor.leave.do_send(Leave {
                key: key.clone(),
                tab: self.tab.clone(),
                conn: self.conn,
            });
        }
        if self.joins.is_empty() {
            ctx.stop();
        }
    }

    /// The session's link of the join of `key`, if `join_ref` is its
    /// current join and the session let it in; else the tab is told to
    /// rejoin (the two nodes disagree about the join).
    fn link(&self, key: &SessionKey, join_ref: &Arc<str>) -> Option<(SessionLink, ActivityStamp)> {
        let found = self
            .joins
            .get(key)
            .filter(|j| j.join_ref == *join_ref)
            .and_then(|j| Some((j.link.clone()?, j.activity.clone())));
        if found.is_none() {
            self.send(key, join_ref.clone(), Item::Rejoin);
        }
        found
    }
}

impl Actor for Guest {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.shared.supervisor.started.do_send(TabStarted {
            conn: self.conn,
            close: ctx.address().recipient(),
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let supervisor = &self.shared.supervisor;
        for (key, _) in self.joins.drain() {
            supervisor.leave.do_send(Leave {
                key,
                tab: self.tab.clone(),
                conn: self.conn,
            });
        }
        supervisor.gone.do_send(TabGone { conn: self.conn });
    }
}

impl Handler<FromTab> for Guest {
    type Result = ();

    fn handle(&mut self, FromTab(body): FromTab, ctx: &mut Self::Context) {
        match body {
            Body::Join(join) => self.join(*join, ctx),
            Body::Leave { key, .. } => self.leave(&key, ctx),
            Body::Visibility {
                key, visibility, ..
            } => {
                if self.joins.contains_key(&key) {
                    self.shared.supervisor.visibility.do_send(SetVisibility {
                        key,
                        tab: self.tab.clone(),
                        conn: self.conn,
                        visibility,
                    });
                }
            }
            Body::Submit {
                key,
                join_ref,
                reply_ref,
                event,
                ..
            } => {
                let Some((link, activity)) = self.link(&key, &join_ref) else {
                    return;
                };
                if !link.queue.try_submit(self.shared.config.queue_len) {
                    return self.refuse_push(&key, join_ref, reply_ref);
                }
                if !link.submit.connected() {
                    link.queue.unsubmit();
                    return self.send(&key, join_ref, Item::Rejoin);
                }
                activity.touch();
                link.submit.do_send(Submit {
                    key,
                    tab: self.tab.clone(),
                    conn: self.conn,
                    identity: self.identity.clone(),
                    join_ref,
                    reply_to: TabInbox::direct(ctx.address().recipient()),
                    reply_ref,
                    event,
                });
            }
            Body::Cancel {
                key,
                join_ref,
                reply_ref,
                task,
                ..
            } => {
                let Some((link, _)) = self.link(&key, &join_ref) else {
                    return;
                };
                link.cancel.do_send(Cancel {
                    key,
                    tab: self.tab.clone(),
                    conn: self.conn,
                    join_ref,
                    reply_to: TabInbox::direct(ctx.address().recipient()),
                    reply_ref,
                    task,
                });
            }
            Body::Deliver { .. } | Body::Close { .. } | Body::Call { .. } | Body::Answer { .. } => {
            }
        }
    }
}

impl Handler<Deliver> for Guest {
    type Result = ();

    fn handle(&mut self, msg: Deliver, _ctx: &mut Self::Context) {
        let key = msg
            .topic
            .strip_prefix(SESSION_TOPIC_PREFIX)
            .and_then(|k| SessionKey::parse(k).ok());
        let Some(key) = key else {
            return;
        };
        if let Outgoing::Joined { link, .. } = &msg.item {
            if let Some(join) = self
                .joins
                .get_mut(&key)
                .filter(|j| j.join_ref == msg.join_ref)
            {
                join.link = link.clone();
            }
        }
        self.send(&key, msg.join_ref, Item::from_outgoing(&msg.item));
    }
}

impl Handler<CloseConnection> for Guest {
    type Result = ();

    fn handle(&mut self, msg: CloseConnection, ctx: &mut Self::Context) {
        let body = Body::Close {
            conn: self.remote_conn,
            code: msg.code.code(),
        };
        self.shared.outbox.send(&self.peer, body);
        ctx.stop();
    }
}

impl Handler<PeerLost> for Guest {
    type Result = ();

    fn handle(&mut self, msg: PeerLost, ctx: &mut Self::Context) {
        if msg.notify {
            for (key, join) in &self.joins {
                self.send(key, join.join_ref.clone(), Item::Rejoin);
            }
        }
        ctx.stop();
    }
}
