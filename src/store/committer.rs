//! Group commit: one thread that writes the steps of every session to a
//! durable [`Store`] in batches, one transaction (and one fsync) per batch,
//! and tells each session which of its steps are durable.
//!
//! Sessions never wait for it: they hand over each step and go on handling
//! events; what they send waits in their outbox until the acknowledgement.
//! While one batch is being written, the next one gathers, so the cost of
//! an fsync is shared by everything that arrived meanwhile.

use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use actix::{Message, Recipient};

use super::{Step, Store, StoreError};

/// Most steps written in one transaction.
const MAX_BATCH: usize = 4096;
/// Pauses before retrying a failed batch; then the sessions are told.
const RETRIES: [Duration; 2] = [Duration::from_millis(10), Duration::from_millis(100)];

/// Sent by the committer to a session about one of its steps.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Committed {
    /// The step's number, or the store's error (the step is not durable).
    pub(crate) result: Result<u64, StoreError>,
}

enum Request {
    Step {
        step: Box<Step>,
        id: u64,
        ack: Recipient<Committed>,
    },
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Handle to the commit thread. Cheap to clone; the thread ends when the
/// last handle is dropped, after writing what it was given.
#[derive(Clone)]
pub(crate) struct Committer {
    tx: mpsc::Sender<Request>,
}

impl Committer {
    /// Starts the commit thread. `window` is how long a batch may wait for
    /// more steps after its first one (0 = write what is queued at once).
    pub(crate) fn start(store: Arc<dyn Store>, window: Duration) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("tabhub-commit".into())
            .spawn(move || run(&*store, &rx, window))?;
        Ok(Self { tx })
    }

    /// Hands over step number `id` of the session behind `ack`.
    pub(crate) fn submit(&self, step: Step, id: u64, ack: Recipient<Committed>) {
        if self
            .tx
            .send(Request::Step {
                step: Box::new(step),
                id,
                ack: ack.clone(),
            })
            .is_err()
        {
            ack.do_send(Committed {
                result: Err(StoreError {
                    message: "the commit thread has stopped".into(),
                }),
            });
        }
    }

    /// Resolves once everything handed over before it is written.
    pub(crate) async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(Request::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

fn run(store: &dyn Store, rx: &mpsc::Receiver<Request>, window: Duration) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let deadline = Instant::now() + window;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => {
                    batch.push(r);
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(r) => batch.push(r),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        commit(store, batch);
    }
}

fn commit(store: &dyn Store, batch: Vec<Request>) {
    let steps: Vec<Step> = batch
        .iter()
        .filter_map(|r| match r {
            // A step with nothing to keep (a repeated event id, say) still
            // waits its turn for the acknowledgement.
            Request::Step { step, .. } if !step.is_empty() => Some((**step).clone()),
            _ => None,
        })
        .collect();
    let mut result = if steps.is_empty() {
        Ok(())
    } else {
        store.append(&steps)
    };
    for pause in RETRIES {
        let Err(e) = &result else { break };
        tracing::warn!(error = %e, steps = steps.len(), "commit failed; retrying");
        thread::sleep(pause);
        result = store.append(&steps);
    }
    if let Err(e) = &result {
        tracing::error!(error = %e, steps = steps.len(), "commit failed; the sessions concerned restart from the store");
    }
    for request in batch {
        match request {
            Request::Step { id, ack, .. } => ack.do_send(Committed {
                result: result.clone().map(|()| id),
            }),
            Request::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}
