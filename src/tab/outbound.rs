//! The bounded outbound buffer of one connection, and the task that writes
//! it to the socket in order.
//!
//! The actor enqueues; a writer task awaits each socket write, so a slow
//! socket makes the queue grow, never the actor block. The gauge counts
//! what is queued (messages and bytes), and pushes check it: over the limit
//! the join gets `phx_error` instead of more deltas (PROTOCOL section 5), so
//! a slow tab costs at most the limit in memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::web::Bytes;
use actix_ws::{CloseReason, Session};
use tokio::sync::mpsc;

use crate::protocol::close::CloseCode;

enum Out {
    Text(String),
    Ping,
    Pong(Bytes),
    Close(CloseCode),
}

#[derive(Default)]
struct Gauge {
    messages: AtomicUsize,
    bytes: AtomicUsize,
}

/// The connection's outbound queue. Dropping it lets the writer drain what
/// is queued and end.
pub(crate) struct Outbound {
    tx: mpsc::UnboundedSender<Out>,
    gauge: Arc<Gauge>,
    max_messages: usize,
    max_bytes: usize,
}

impl Outbound {
    /// Starts the writer task for `session` on the current thread.
    pub(crate) fn start(session: Session, max_messages: usize, max_bytes: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let gauge = Arc::new(Gauge::default());
        actix_rt::spawn(write_loop(session, rx, gauge.clone()));
        Self {
            tx,
            gauge,
            max_messages,
            max_bytes,
        }
    }

    /// Whether a push of `bytes` fits within the limits.
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        self.gauge.messages.load(Ordering::Acquire) < self.max_messages
            && self.gauge.bytes.load(Ordering::Acquire) + bytes <= self.max_bytes
    }

    /// Whether the queue is past twice the limits: replies and control
    /// messages may exceed the limits a little (a client gets its replies
    /// even while its pushes are refused), never this much.
    pub(crate) fn hopeless(&self) -> bool {
        self.gauge.messages.load(Ordering::Acquire) > 2 * self.max_messages
            || self.gauge.bytes.load(Ordering::Acquire) > 2 * self.max_bytes
    }

    /// Queues a text frame (callers check the limits first).
    pub(crate) fn text(&self, text: String) {
        self.gauge.messages.fetch_add(1, Ordering::AcqRel);
        self.gauge.bytes.fetch_add(text.len(), Ordering::AcqRel);
        let _ = self.tx.send(Out::Text(text));
    }

    /// Queues a WebSocket ping.
    pub(crate) fn ping(&self) {
        let _ = self.tx.send(Out::Ping);
    }

    /// Queues a pong answering a client ping.
    pub(crate) fn pong(&self, payload: Bytes) {
        let _ = self.tx.send(Out::Pong(payload));
    }

    /// Queues the close frame; the writer ends after sending it.
    pub(crate) fn close(&self, code: CloseCode) {
        let _ = self.tx.send(Out::Close(code));
    }
}

async fn write_loop(mut session: Session, mut rx: mpsc::UnboundedReceiver<Out>, gauge: Arc<Gauge>) {
    while let Some(out) = rx.recv().await {
        let written = match out {
            Out::Text(text) => {
                let len = text.len();
                let r = session.text(text).await;
                gauge.messages.fetch_sub(1, Ordering::AcqRel);
                gauge.bytes.fetch_sub(len, Ordering::AcqRel);
                r
            }
            Out::Ping => session.ping(b"").await,
            Out::Pong(payload) => session.pong(&payload).await,
            Out::Close(code) => {
                let reason = CloseReason {
                    code: code.code().into(),
                    description: Some(code.description().to_owned()),
                };
                let _ = session.close(Some(reason)).await;
                return;
            }
        };
        if written.is_err() {
            // The peer is gone; the actor learns it from the read side.
            return;
        }
    }
}
