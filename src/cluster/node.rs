//! [`Node`]: this node's door to the others, one per hub with a shared
//! store. It reads the node's channel and dispatches what arrives: what a
//! tab of another node sends goes to that connection's [`Guest`] (the
//! owner side, here); what an owner sends to a tab of this node goes to the
//! tab (the tab side, `route.rs`). It numbers what it hears per sender and
//! checks, every third of the lease time, that the nodes it deals with
//! are alive; a lost message or a dead node ends what depended on it,
//! and the tabs concerned rejoin.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, StreamHandler, WrapFuture};
use serde_json::Value;

use super::calls::{Answering, RunCall};
use super::guest::{FromTab, Guest, GuestShared, PeerLost};
use super::links::{Heard, Outbox};
use super::route::Routed;
use super::stats::ClusterStats;
use super::wire::{Body, Envelope, Item};
use crate::ids::{ConnId, SessionKey};
use crate::messages::{Identity, Join};
use crate::store::{BusEvent, NodeBus, SessionStore};

/// How a node turns the app's identities into JSON and back (the app's
/// `Identity` is serde; the node is not generic over the app).
pub(crate) struct Identities {
    pub(crate) encode: Box<dyn Fn(&Identity) -> Value + Send + Sync>,
    pub(crate) decode: Box<dyn Fn(Value) -> Option<Identity> + Send + Sync>,
}

impl Identities {
    /// How `A`'s identities cross nodes: as JSON, through serde.
    pub(crate) fn of<A: crate::app::App>() -> Self {
        Self {
            encode: Box::new(|identity: &Identity| {
                identity
                    .downcast_ref::<A::Identity>()
                    .and_then(|i| serde_json::to_value(i).ok())
                    .unwrap_or(Value::Null)
            }),
            decode: Box::new(|value: Value| {
                serde_json::from_value::<A::Identity>(value)
                    .ok()
                    .map(|i| Arc::new(i) as Identity)
            }),
        }
    }
}

/// See the module docs.
pub(crate) struct Node {
    pub(super) store: Arc<dyn SessionStore>,
    pub(super) me: Arc<str>,
    pub(super) guests_shared: Arc<GuestShared>,
    pub(super) identities: Arc<Identities>,
    /// The hub's connection counter, shared with its tabs.
    pub(super) next_conn: Arc<AtomicU64>,
    pub(super) heard: Heard,
    /// Whether the channel was subscribed before (a later
    /// [`BusEvent::Subscribed`] means messages may have been lost).
    pub(super) subscribed_before: bool,
    /// Tab side: this node's joins whose session another node owns.
    pub(super) remote: HashMap<(ConnId, SessionKey), Routed>,
    /// Tab side: joins waiting to learn their session's owner.
    pub(super) claiming: HashMap<(ConnId, SessionKey), Join>,
    /// Owner side: other nodes' connections, by (node, conn there).
    pub(super) guests: HashMap<(Arc<str>, u64), Addr<Guest>>,
    /// Owner side: runs a session handle's call made on another node.
    pub(super) run_here: RunCall,
    /// Caller side: session handle calls waiting for their owner's
    /// answer, by number, with the owner they went to.
    pub(super) calls: HashMap<u64, (Arc<str>, Answering)>,
    pub(super) next_call: u64,
    pub(super) stats: Arc<ClusterStats>,
}

impl Node {
    pub(crate) fn new(
        store: Arc<dyn SessionStore>,
        guests_shared: GuestShared,
        identities: Identities,
        run_here: RunCall,
        next_conn: Arc<AtomicU64>,
        stats: Arc<ClusterStats>,
    ) -> Option<Self> {
        let me: Arc<str> = Arc::from(store.bus()?.node());
        Some(Self {
            store,
            me,
            guests_shared: Arc::new(guests_shared),
            identities: Arc::new(identities),
            next_conn,
            heard: Heard::default(),
            subscribed_before: false,
            remote: HashMap::new(),
            claiming: HashMap::new(),
            guests: HashMap::new(),
            run_here,
            calls: HashMap::new(),
            next_call: 0,
            stats,
        })
    }

    /// The outbox, shared with the guests.
    pub(super) fn outbox(&self) -> &Arc<Outbox> {
        &self.guests_shared.outbox
    }

    /// The store's bus (always there: a node is made only for a store
    /// with one).
    pub(super) fn bus(&self) -> Option<&dyn NodeBus> {
        self.store.bus()
    }

    fn on_message(&mut self, bytes: &[u8], ctx: &mut Context<Self>) {
        let envelope: Envelope = match serde_json::from_slice(bytes) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "a message from another node did not decode; dropped");
                return;
            }
        };
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let from: Arc<str> = Arc::from(envelope.from.as_str());
        if !self.heard.next(&from, envelope.n) {
            tracing::warn!(peer = %from, n = envelope.n, "messages from another node were lost; its joins here rejoin");
            self.stats.gaps.fetch_add(1, Ordering::Relaxed);
            self.peer_lost(&from, true);
        }
        match envelope.body {
            Body::Deliver {
                conn,
                topic,
                join_ref,
                item,
            } => self.deliver_to_tab(&from, ConnId(conn), topic, join_ref, item, ctx),
            Body::Close { conn, code } => self.close_tab(&from, ConnId(conn), code),
            Body::Call { id, key, call } => self.run_call(from, id, key, call, ctx),
            Body::Answer { id, answer } => self.answered(&from, id, answer),
            body => self.hand_to_guest(from, body),
        }
    }

    /// Owner side: hands what a tab of `from` sent to its connection's
    /// guest, started by the connection's first join.
    fn hand_to_guest(&mut self, from: Arc<str>, body: Body) {
        let conn = match &body {
            Body::Join(j) => j.conn,
            Body::Leave { conn, .. }
            | Body::Visibility { conn, .. }
            | Body::Submit { conn, .. }
            | Body::Cancel { conn, .. } => *conn,
            Body::Deliver { .. } | Body::Close { .. } | Body::Call { .. } | Body::Answer { .. } => {
                return
            }
        };
        let id = (from.clone(), conn);
        if let Some(guest) = self.guests.get(&id).filter(|g| g.connected()) {
            guest.do_send(FromTab(body));
            return;
        }
        let join = match body {
            Body::Join(join) => join,
            // A push of a join this node no longer has: the tab rejoins.
            Body::Submit { key, join_ref, .. } | Body::Cancel { key, join_ref, .. } => {
                let topic = Arc::from(key.topic());
                let body = Body::Deliver {
                    conn,
                    topic,
                    join_ref,
                    item: Item::Rejoin,
                };
                return self.outbox().send(&from, body);
            }
            _ => return,
        };
        let Some(identity) = (self.identities.decode)(join.identity.clone()) else {
            tracing::warn!(peer = %from, "a join's identity from another node did not decode; refused");
            let response =
                crate::protocol::reply::error_reply(&crate::protocol::reply::ErrorResponse::new(
                    crate::protocol::Reason::Unavailable,
                    "the connection's identity did not reach the session's node intact",
                ));
            let item = Item::Refused {
                reply_ref: join.reply_ref.clone(),
                response,
                reason: crate::protocol::Reason::Unavailable,
            };
            let topic = Arc::from(join.key.topic());
            let body = Body::Deliver {
                conn,
                topic,
                join_ref: join.join_ref.clone(),
                item,
            };
            return self.outbox().send(&from, body);
        };
        let local = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        let guest = Guest::new(from, &join, local, identity, self.guests_shared.clone());
        let addr = Guest::start_in_arbiter(&actix::Arbiter::current(), |_| guest);
        addr.do_send(FromTab(Body::Join(join)));
        self.guests.insert(id, addr);
    }

    /// Ends what depended on `peer`: its guests here leave their sessions
    /// (`notify`: and its tabs are told to rejoin, since it is alive), and
    /// this node's tabs whose sessions it owns rejoin (their leaves still
    /// go to it, for its guests).
    pub(super) fn peer_lost(&mut self, peer: &Arc<str>, notify: bool) {
        self.guests.retain(|(node, _), guest| {
            if node == peer {
                guest.do_send(PeerLost { notify });
                false
            } else {
                true
            }
        });
        for ((_, key), routed) in self.remote.iter().filter(|(_, r)| &r.owner == peer) {
            routed.end(key);
        }
        // Dropping a call's sender tells its caller the owner was lost.
        self.calls.retain(|_, (owner, _)| owner != peer);
    }

    /// The other nodes this one deals with: those with guests here, the
    /// owners of this node's remote joins and of its calls waiting for an
    /// answer, each once.
    fn peers(&self) -> HashSet<Arc<str>> {
        self.guests
            .keys()
            .map(|(node, _)| node.clone())
            .chain(self.remote.values().map(|r| r.owner.clone()))
            .chain(self.calls.values().map(|(owner, _)| owner.clone()))
            .collect()
    }

    /// Asks the bus which of the nodes this one deals with are alive, and
    /// ends what depended on the dead.
    fn check_peers(&mut self, ctx: &mut Context<Self>) {
        self.guests.retain(|_, g| g.connected());
        let peers = self.peers();
        let Some(bus) = self.bus() else {
            return;
        };
        if peers.is_empty() {
            return;
        }
        let peers: Vec<Arc<str>> = peers.into_iter().collect();
        let asking = bus.alive(peers.iter().map(|p| p.to_string()).collect());
        ctx.spawn(asking.into_actor(self).map(move |answer, act, _ctx| {
            let alive = match answer {
                Ok(alive) => alive,
                Err(e) => {
                    tracing::warn!(error = %e, "could not ask which nodes are alive");
                    return;
                }
            };
            for (peer, alive) in peers.iter().zip(alive) {
                if !alive {
                    tracing::warn!(peer = %peer, "another node stopped renewing its liveness; its joins here end and rejoin");
                    act.stats.peers_lost.fetch_add(1, Ordering::Relaxed);
                    act.peer_lost(peer, false);
                    act.heard.forget(peer);
                }
            }
        }));
    }
}

impl Actor for Node {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(bus) = self.bus() else {
            return;
        };
        let every = bus.check_every();
        let events = bus.subscribe();
        ctx.add_stream(futures_util::stream::unfold(events, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        }));
        ctx.run_interval(every, |act, ctx| act.check_peers(ctx));
    }
}

impl StreamHandler<BusEvent> for Node {
    fn handle(&mut self, event: BusEvent, ctx: &mut Self::Context) {
        match event {
            BusEvent::Message(bytes) => self.on_message(&bytes, ctx),
            BusEvent::Subscribed => {
                self.heard.restart();
                if std::mem::replace(&mut self.subscribed_before, true) {
                    // Anything may have been lost meanwhile, from anyone.
                    tracing::warn!(
                        "the node's channel was subscribed again; every join across nodes rejoins"
                    );
                    self.stats.gaps.fetch_add(1, Ordering::Relaxed);
                    for peer in self.peers() {
                        self.peer_lost(&peer, true);
                    }
                }
            }
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {}
}
