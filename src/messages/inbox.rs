//! A connection's inbox: how sessions and the supervisor hand a
//! [`Deliver`] to a `TabActor` without a mailbox message per delivery.
//!
//! A session fanning a delta out to its tabs used to send each tab one
//! actix message per delta: an envelope allocated, a queue node, and
//! (when the tab's thread was parked) a wake-up crossing threads, per tab
//! per delta. The inbox batches them: senders push onto one queue under a
//! short lock, and only the push that finds the queue empty sends the
//! actor a [`Drain`]. The actor takes everything queued at once and
//! handles it in order. Under load a tab thus gets one message per batch
//! of deliveries, not per delivery; unloaded, it costs what a message did.
//!
//! Order: every delivery to a connection goes through its inbox (none
//! through its mailbox), so what one sender sends arrives in the order
//! sent. While the queue holds anything, one [`Drain`] is in the actor's
//! mailbox: the one sent by the push that found it empty.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix::{Message, Recipient};

use super::Deliver;

/// Sent to a connection by the push that found its inbox empty: take
/// what is queued and handle it.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Drain;

struct Queue {
    items: Mutex<Vec<Deliver>>,
    wake: Recipient<Drain>,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Vec<Deliver>> {
        // Under the lock is only a push or a swap: a poisoned queue is
        // still consistent.
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side of one connection's inbox; cheap to clone (one
/// reference count).
#[derive(Clone)]
pub(crate) struct TabInbox(Route);

#[derive(Clone)]
enum Route {
    /// A `TabActor`: batched, as above.
    Queued(Arc<Queue>),
    /// One message per delivery, to actors that stand in for a tab (a
    /// cluster guest, which forwards to the tab's node; test actors).
    Direct(Recipient<Deliver>),
}

/// The receiving side, held by the `TabActor`.
pub(crate) struct InboxReader {
    queue: Arc<Queue>,
    /// The vector swapped in on each take, so a steady stream of
    /// deliveries allocates nothing.
    spare: Vec<Deliver>,
}

impl TabInbox {
    /// An inbox whose deliveries wake `wake` with a [`Drain`].
    pub(crate) fn new(wake: Recipient<Drain>) -> (Self, InboxReader) {
        let queue = Arc::new(Queue {
            items: Mutex::default(),
            wake,
        });
        let reader = InboxReader {
            queue: queue.clone(),
            spare: Vec::new(),
        };
        (Self(Route::Queued(queue)), reader)
    }

    /// An inbox that sends each delivery as its own message.
    pub(crate) fn direct(to: Recipient<Deliver>) -> Self {
        Self(Route::Direct(to))
    }

    /// Queues `deliver`. Dropped if the connection's actor has stopped, as
    /// a message to it would be.
    pub(crate) fn do_send(&self, deliver: Deliver) {
        match &self.0 {
            Route::Queued(queue) => {
                let wake = &queue.wake;
                if !wake.connected() {
                    return;
                }
                let first = {
                    let mut items = queue.lock();
                    items.push(deliver);
                    items.len() == 1
                };
                if first {
                    wake.do_send(Drain);
                    // The actor may have stopped since the check: then
                    // nothing will take what is queued, so drop it now.
                    if !wake.connected() {
                        queue.lock().clear();
                    }
                }
            }
            Route::Direct(to) => to.do_send(deliver),
        }
    }
}

impl InboxReader {
    /// Takes everything queued, oldest first. The returned vector is
    /// handed back with [`InboxReader::recycle`] once handled.
    pub(crate) fn take(&mut self) -> Vec<Deliver> {
        let mut taken = std::mem::take(&mut self.spare);
        std::mem::swap(&mut *self.queue.lock(), &mut taken);
        taken
    }

    /// Keeps `handled` (emptied) for the next take.
    pub(crate) fn recycle(&mut self, mut handled: Vec<Deliver>) {
        handled.clear();
        self.spare = handled;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Outgoing;
    use actix::{Actor, ActorContext, AsyncContext, Context, Handler};
    use std::sync::mpsc;

    /// Takes its inbox on each `Drain` and records the batch's reply refs.
    struct Taker {
        reader: Option<InboxReader>,
        batches: mpsc::Sender<Vec<String>>,
    }

    impl Actor for Taker {
        type Context = Context<Self>;
    }

    impl Handler<Drain> for Taker {
        type Result = ();
        fn handle(&mut self, _: Drain, _: &mut Context<Self>) {
            let Some(reader) = self.reader.as_mut() else {
                return;
            };
            let mut taken = reader.take();
            let refs = taken
                .drain(..)
                .map(|d| match d.item {
                    Outgoing::Reply { reply_ref, .. } => reply_ref.unwrap_or_default(),
                    _ => String::new(),
                })
                .collect();
            reader.recycle(taken);
            let _ = self.batches.send(refs);
        }
    }

    struct Stop;
    impl Message for Stop {
        type Result = ();
    }
    impl Handler<Stop> for Taker {
        type Result = ();
        fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }

    fn reply(n: usize) -> Deliver {
        Deliver {
            topic: Arc::from("session:k"),
            join_ref: Arc::from("1"),
            item: Outgoing::Reply {
                reply_ref: Some(n.to_string()),
                response: String::new(),
            },
        }
    }

    #[actix_rt::test]
    async fn deliveries_queued_meanwhile_arrive_in_order_with_one_wake_up() {
        let (tx, batches) = mpsc::channel();
        let mut inbox = None;
        let addr = Taker::create(|ctx| {
            let (i, reader) = TabInbox::new(ctx.address().recipient());
            inbox = Some(i);
            Taker {
                reader: Some(reader),
                batches: tx,
            }
        });
        let Some(inbox) = inbox else {
            panic!("created")
        };
        // Sent before the actor runs: one Drain takes all three.
        for n in 0..3 {
            inbox.do_send(reply(n));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            batches.try_recv().ok(),
            Some(vec!["0".into(), "1".into(), "2".into()])
        );
        assert!(batches.try_recv().is_err(), "one batch, one wake-up");
        inbox.do_send(reply(3));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(batches.try_recv().ok(), Some(vec!["3".into()]));

        addr.do_send(Stop);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        inbox.do_send(reply(4));
        let Route::Queued(queue) = &inbox.0 else {
            panic!("queued")
        };
        assert!(
            queue.lock().is_empty(),
            "nothing piles up for a stopped actor"
        );
    }
}
