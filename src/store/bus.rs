//! [`NodeBus`]: what a store shared by several nodes offers beyond
//! storage, so that any node can serve any tab (docs/scale-out.md, "Remote
//! tabs"): who owns a session, a channel per node for messages between
//! nodes, and which nodes are alive. [`crate::store::RedisStore`] offers it;
//! stores of one node do not.

use std::future::Future;
use std::pin::Pin;

use crate::ids::SessionKey;
use crate::store::StoreError;

/// A future a bus call answers with; it may be awaited on any runtime.
pub type BusFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// What the bus hands to this node, in the order it arrived.
#[derive(Debug)]
pub enum BusEvent {
    /// The node's channel is (again) subscribed. Anything published to it
    /// while it was not may be lost: the receiver treats every peer as
    /// having skipped messages.
    Subscribed,
    /// One message another node published to this node's channel.
    Message(Vec<u8>),
}

/// Messages between nodes sharing a store, and who owns what.
///
/// Delivery is at most once and, from one node to another, in publish
/// order: a message is lost only when the receiver's subscription drops,
/// which it learns by a new [`BusEvent::Subscribed`]. Receivers number
/// what they get from each sender to notice a loss.
pub trait NodeBus: Send + Sync {
    /// This node's id, unique among the nodes sharing the store (a new one
    /// per process start).
    fn node(&self) -> &str;

    /// Names the node that owns `key`'s session. If no node does, this
    /// node takes the session's lease first (it lapses after one lease
    /// time unless this node loads the session, which keeps it), so two
    /// nodes asking at once get the same answer.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be reached.
    fn claim(&self, key: &SessionKey) -> BusFuture<String>;

    /// Publishes `message` (at most a few MB) to `node`'s channel, after
    /// every message this node published before; fire and forget.
    fn publish(&self, node: &str, message: Vec<u8>);

    /// Subscribes this node's channel. The receiver gets a
    /// [`BusEvent::Subscribed`] first and again after each reconnect.
    /// Call once.
    fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<BusEvent>;

    /// Which of `nodes` are alive: each running node renews a key of its
    /// own every third of the lease time, so a node that died (or cannot
    /// reach the store) is counted dead after at most one lease time. The
    /// answer is in the order of `nodes`.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be reached.
    fn alive(&self, nodes: Vec<String>) -> BusFuture<Vec<bool>>;

    /// How often [`NodeBus::alive`] is worth asking: a third of the lease
    /// time.
    fn check_every(&self) -> std::time::Duration;
}
