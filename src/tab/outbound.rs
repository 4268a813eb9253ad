//! The bounded outbound buffer of one connection, and the task that writes
//! it to the socket in order.
//!
//! The actor enqueues; a writer task awaits each socket write, so a slow
//! socket makes the queue grow, never the actor block. Everything queued
//! counts (messages and bytes): text frames, and pongs and pings too, so a
//! client that floods pings and reads nothing fills the same bound.
//!
//! Pushes of a join (deltas, effects, chains) check the bound first: over
//! it, the join's pushes still queued are dropped (the journal can replay
//! the deltas) and the join gets one `phx_error` instead (docs/protocol.md
//! section 11 (backpressure)), so a client that stopped reading costs at
//! most the bound. Replies and control frames may pass the bound a little,
//! never twice over. If the socket then takes no write for
//! `--slow-client-timeout-ms`, the connection is cut: the writer is
//! aborted, a close (1013) is tried for a moment, and the socket is
//! dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_ws::{CloseReason, Session};
use bytestring::ByteString;
use tokio::sync::Notify;

use crate::protocol::close::CloseCode;

/// How long a last close frame may wait for a socket that takes no writes.
const LAST_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// What a ping or pong costs in the bound, beyond its payload (the frame
/// header and the queue entry), in bytes.
const CONTROL_OVERHEAD: usize = 16;

enum Out {
    Text(ByteString),
    Ping,
    Pong(Bytes),
    Close(CloseCode),
}

struct Item {
    out: Out,
    /// What it counts in the bound, in bytes.
    bytes: usize,
    /// The join (topic) of a push that may be dropped on overflow.
    push_of: Option<Arc<str>>,
    /// Whether it is an `effect` push (counted apart when dropped: effects
    /// are not kept anywhere, so a dropped one is lost).
    effect: bool,
}

/// Pushes of one join dropped from the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// Pushes dropped, effects included.
    pub(crate) pushes: usize,
    /// Effects among them.
    pub(crate) effects: usize,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    /// Queued and being written, in messages and bytes.
    messages: usize,
    bytes: usize,
    /// Writes the socket has taken so far.
    writes: u64,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every change under this lock is a few counter updates and a
        // queue push or pop, so a poisoned lock is still consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The connection's outbound queue. Dropping it lets the writer drain what
/// is queued and end, within `--slow-client-timeout-ms`.
pub(crate) struct Outbound {
    shared: Arc<Shared>,
    writer: actix_rt::task::JoinHandle<()>,
    /// For the last close of a connection that is cut.
    session: Session,
    max_messages: usize,
    max_bytes: usize,
    slow_client_timeout: Duration,
}

impl Outbound {
    /// Starts the writer task for `session` on the current thread.
    pub(crate) fn start(
        session: Session,
        max_messages: usize,
        max_bytes: usize,
        slow_client_timeout: Duration,
    ) -> Self {
        let shared = Arc::new(Shared::default());
        let writer = actix_rt::spawn(write_loop(session.clone(), shared.clone()));
        Self {
            shared,
            writer,
            session,
            max_messages,
            max_bytes,
            slow_client_timeout,
        }
    }

    /// Whether a push of `bytes` fits within the limits.
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        let q = self.shared.lock();
        q.messages < self.max_messages && q.bytes + bytes <= self.max_bytes
    }

    /// Whether the queue is past twice the limits: replies and control
    /// frames may exceed the limits a little (a client gets its replies
    /// even while its pushes are refused), never this much.
    pub(crate) fn hopeless(&self) -> bool {
        let q = self.shared.lock();
        q.messages > 2 * self.max_messages || q.bytes > 2 * self.max_bytes
    }

    /// Writes the socket has taken so far (it took none since an earlier
    /// reading if this has not moved).
    pub(crate) fn writes(&self) -> u64 {
        self.shared.lock().writes
    }

    /// Whether anything waits to be written.
    pub(crate) fn waiting(&self) -> bool {
        self.shared.lock().messages > 0
    }

    fn enqueue(&self, out: Out, bytes: usize, push_of: Option<Arc<str>>, effect: bool) {
        {
            let mut q = self.shared.lock();
            q.messages += 1;
            q.bytes += bytes;
            q.items.push_back(Item {
                out,
                bytes,
                push_of,
                effect,
            });
        }
        self.shared.wake.notify_one();
    }

    /// Queues a reply or control text frame (callers check the limits).
    pub(crate) fn text(&self, text: String) {
        let bytes = text.len();
        self.enqueue(Out::Text(ByteString::from(text)), bytes, None, false);
    }

    /// Queues a push of the join on `topic` (callers check [`has_room`]);
    /// it is dropped if that join overflows later. `effect`: whether it is
    /// an `effect` push.
    ///
    /// [`has_room`]: Self::has_room
    pub(crate) fn push(&self, topic: &Arc<str>, text: ByteString, effect: bool) {
        let bytes = text.len();
        self.enqueue(Out::Text(text), bytes, Some(topic.clone()), effect);
    }

    /// Drops the pushes of the join on `topic` still queued; returns how
    /// many, and how many of them were effects.
    pub(crate) fn drop_pushes(&self, topic: &str) -> Dropped {
        let mut q = self.shared.lock();
        let (mut dropped, mut bytes) = (Dropped::default(), 0);
        q.items.retain(|item| {
            let drop = item.push_of.as_deref() == Some(topic);
            if drop {
                dropped.pushes += 1;
                dropped.effects += usize::from(item.effect);
                bytes += item.bytes;
            }
            !drop
        });
        q.messages -= dropped.pushes;
        q.bytes -= bytes;
        dropped
    }

    /// Queues a WebSocket ping.
    pub(crate) fn ping(&self) {
        self.enqueue(Out::Ping, CONTROL_OVERHEAD, None, false);
    }

    /// Queues a pong answering a client ping.
    pub(crate) fn pong(&self, payload: Bytes) {
        let bytes = payload.len() + CONTROL_OVERHEAD;
        self.enqueue(Out::Pong(payload), bytes, None, false);
    }

    /// Queues the close frame after what is queued; the writer ends after
    /// sending it.
    pub(crate) fn close(&self, code: CloseCode) {
        self.enqueue(Out::Close(code), CONTROL_OVERHEAD, None, false);
    }

    /// Cuts a connection whose socket takes no writes: drops what is
    /// queued, stops the writer, tries a close frame with `code` for a
    /// moment, then lets the socket go.
    pub(crate) fn cut(&self, code: CloseCode) {
        {
            let mut q = self.shared.lock();
            q.items.clear();
            q.messages = 0;
            q.bytes = 0;
        }
        self.writer.abort();
        let session = self.session.clone();
        actix_rt::spawn(async move {
            let close = session.close(Some(close_reason(code)));
            let _ = tokio::time::timeout(LAST_CLOSE_WAIT, close).await;
        });
    }
}

impl Drop for Outbound {
    /// The writer drains what is queued (the close frame last), but a
    /// socket that takes no writes does not keep it, or the socket, alive
    /// longer than the slow-client timeout.
    fn drop(&mut self) {
        self.shared.wake.notify_one();
        let writer = self.writer.abort_handle();
        let wait = self.slow_client_timeout;
        actix_rt::spawn(async move {
            tokio::time::sleep(wait).await;
            writer.abort();
        });
    }
}

fn close_reason(code: CloseCode) -> CloseReason {
    CloseReason {
        code: code.code().into(),
        description: Some(code.description().to_owned()),
    }
}

async fn write_loop(mut session: Session, shared: Arc<Shared>) {
    loop {
        let next = shared.lock().items.pop_front();
        let Some(item) = next else {
            if Arc::strong_count(&shared) == 1 {
                // The owner is gone and everything it queued is written.
                return;
            }
            // Woken by the next enqueue, or by the owner going away (a
            // wake-up sent meanwhile is kept, so none is missed).
            shared.wake.notified().await;
            continue;
        };
        let written = match item.out {
            Out::Text(text) => session.text(text).await,
            Out::Ping => session.ping(b"").await,
            Out::Pong(payload) => session.pong(&payload).await,
            Out::Close(code) => {
                let _ = session.close(Some(close_reason(code))).await;
                return;
            }
        };
        {
            // Saturating: a cut may have zeroed the counts meanwhile.
            let mut q = shared.lock();
            q.messages = q.messages.saturating_sub(1);
            q.bytes = q.bytes.saturating_sub(item.bytes);
            q.writes += 1;
        }
        if written.is_err() {
            // The peer is gone; the actor learns it from the read side.
            return;
        }
    }
}
