//! The Redis store's [`NodeBus`]: the lease script answers who owns a
//! session, one pub/sub channel per node carries messages between nodes,
//! and each node's liveness key (renewed with its leases, `lease.rs`) says
//! which nodes are alive.
//!
//! Publishing goes through one task per node, which sends what queued up
//! meanwhile as one pipeline: messages leave in the order they were
//! published, and a burst costs one round trip. The subscription runs on a
//! connection of its own; it is pinged every second so a half-open
//! connection is noticed, and redone after any loss.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::io::cause;
use super::keys::{node_channel, node_key, SessionKeys};
use super::stats::LeaseEvent;
use super::RedisStore;
use crate::ids::SessionKey;
use crate::store::bus::{BusEvent, BusFuture, NodeBus};
use crate::store::StoreError;

/// The most messages one pipeline of the publisher carries.
const MAX_BATCH: usize = 256;
/// How often the subscription's connection is pinged.
const PING_EVERY: Duration = Duration::from_secs(1);
/// How long the subscriber waits before connecting again.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// One message waiting to be published: its channel and bytes.
pub(super) type Outgoing = (String, Vec<u8>);

/// Starts the publisher task on the Redis thread; what is sent to the
/// returned channel is published in order.
pub(super) fn start_publisher(store_io: &super::io::Io) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let mut con = store_io.con.clone();
    let stats = store_io.stats.clone();
    store_io.spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let mut pipe = redis::pipe();
            for (channel, message) in batch.drain(..) {
                pipe.cmd("PUBLISH").arg(channel).arg(message).ignore();
            }
            let sent: Result<(), StoreError> = pipe
                .query_async(&mut con)
                .await
                .map_err(|e| cause("publishing to other nodes", &e));
            stats.answered(&sent);
            if let Err(e) = sent {
                // The receivers notice the gap in their numbering.
                tracing::warn!(error = %e, "messages to other nodes were lost");
            }
        }
    });
    tx
}

/// Keeps `channel` subscribed, forwarding what arrives to `tx`, until
/// `tx`'s receiver is dropped.
async fn keep_subscribed(
    client: redis::Client,
    channel: String,
    tx: mpsc::UnboundedSender<BusEvent>,
) {
    loop {
        match client.get_async_pubsub().await {
            Ok(pubsub) => {
                let (mut sink, mut stream) = pubsub.split();
                if let Err(e) = sink.subscribe(&channel).await {
                    tracing::warn!(error = %e, "could not subscribe the node's channel; retrying");
                } else {
                    if tx.send(BusEvent::Subscribed).is_err() {
                        return;
                    }
                    let mut ping = tokio::time::interval(PING_EVERY);
                    loop {
                        tokio::select! {
                            msg = stream.next() => match msg {
                                Some(msg) => {
                                    let bytes = msg.get_payload_bytes().to_vec();
                                    if tx.send(BusEvent::Message(bytes)).is_err() {
                                        return;
                                    }
                                }
                                None => break,
                            },
                            _ = ping.tick() => {
                                let answered = tokio::time::timeout(PING_EVERY, sink.ping::<redis::Value>()).await;
                                if !matches!(answered, Ok(Ok(_))) {
                                    break;
                                }
                            }
                        }
                    }
                    tracing::warn!("the node's subscription dropped; subscribing again");
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not connect the node's subscription; retrying");
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

impl NodeBus for RedisStore {
    fn node(&self) -> &str {
        &self.options.node
    }

    fn claim(&self, key: &SessionKey) -> BusFuture<String> {
        let keys = SessionKeys::new(&self.options.prefix, key);
        let mut con = self.io.con.clone();
        let scripts = self.io.scripts.clone();
        let stats = self.io.stats.clone();
        let (node, ms) = (self.options.node.clone(), self.owner.lease_ms());
        let (tx, rx) = oneshot::channel();
        self.io.spawn(async move {
            let claimed: Result<(i64, String, i64), StoreError> = scripts
                .acquire
                .key(&keys.lease)
                .key(&keys.fence)
                .key(&keys.released)
                .arg(&node)
                .arg(ms)
                .invoke_async(&mut con)
                .await
                .map_err(|e| cause("asking who owns the session", &e));
            stats.answered(&claimed);
            if matches!(claimed, Ok((1, _, 1))) {
                stats.lease(LeaseEvent::TakenOver);
            }
            let owner = claimed.map(|(_, value, _)| holder(&value).to_owned());
            let _ = tx.send(owner);
        });
        answer(rx)
    }

    fn publish(&self, node: &str, message: Vec<u8>) {
        let channel = node_channel(&self.options.prefix, node);
        if self.publisher.send((channel, message)).is_err() {
            tracing::warn!("the publisher stopped; a message to another node was lost");
        }
    }

    fn subscribe(&self) -> mpsc::UnboundedReceiver<BusEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let channel = node_channel(&self.options.prefix, &self.options.node);
        self.io
            .spawn(keep_subscribed(self.io.client.clone(), channel, tx));
        rx
    }

    fn alive(&self, nodes: Vec<String>) -> BusFuture<Vec<bool>> {
        let mut con = self.io.con.clone();
        let stats = self.io.stats.clone();
        let prefix = self.options.prefix.clone();
        let (tx, rx) = oneshot::channel();
        self.io.spawn(async move {
            let mut pipe = redis::pipe();
            for node in &nodes {
                pipe.cmd("EXISTS").arg(node_key(&prefix, node));
            }
            let found: Result<Vec<bool>, StoreError> = pipe
                .query_async(&mut con)
                .await
                .map_err(|e| cause("asking which nodes are alive", &e));
            stats.answered(&found);
            let _ = tx.send(found);
        });
        answer(rx)
    }

    fn check_every(&self) -> Duration {
        (self.options.lease / 3).max(Duration::from_millis(10))
    }
}

/// The node of a lease value `"<node>/<token>"`.
fn holder(value: &str) -> &str {
    value.rsplit_once('/').map_or(value, |(node, _)| node)
}

/// The answer a task on the Redis thread sends back, as a future any
/// runtime can await.
fn answer<T: Send + 'static>(rx: oneshot::Receiver<Result<T, StoreError>>) -> BusFuture<T> {
    Box::pin(async move {
        rx.await.unwrap_or_else(|_| {
            Err(StoreError::backend(
                "the Redis call ended without an answer (the store is closing)",
            ))
        })
    })
}
