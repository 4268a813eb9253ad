//! Group commit: one thread that writes the steps of every session to a
//! [`StepLog`] in batches, one transaction (and one fsync) per batch,
//! and tells each session which of its steps are durable.
//!
//! Sessions never wait for it: they hand over each step and go on handling
//! events; what they send waits in their outbox until the acknowledgement.
//! While one batch is being written, the next one gathers, so the cost of
//! an fsync is shared by everything that arrived meanwhile.
//!
//! Faults stay local. A batch that fails (after short retries) is written
//! again session by session, so one session's failing step never fails
//! another's: each session whose own steps fail is told, and its later
//! steps, already handed over or still coming from that session (it is
//! failing and will be replaced by a fresh one loaded from the store), are
//! refused without being tried against a store that no longer matches
//! them. [`Committer::failing`] says whether the latest write failed for
//! every step it carried (the store cannot commit at all), until a write
//! succeeds or, for a log that can tell ([`StepLog::probe`]), until the
//! log says it could take one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use actix::{Message, Recipient};

use super::{Step, StepLog, StoreCause, StoreError};

/// Most steps written in one transaction.
const MAX_BATCH: usize = 4096;
/// Pauses before retrying a failed batch; then the sessions are told.
const RETRIES: [Duration; 2] = [Duration::from_millis(10), Duration::from_millis(100)];
/// Failed session starts remembered, so their late steps are refused.
const BROKEN_REMEMBERED: usize = 4096;

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
        /// Which start of its session made it (the supervisor's
        /// incarnation number: unique for the life of the service).
        session: u64,
        ack: Recipient<Committed>,
    },
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Handle to the commit thread. Cheap to clone; the thread ends when the
/// last handle is dropped, after writing what it was given.
#[derive(Clone)]
pub(crate) struct Committer {
    tx: mpsc::Sender<Request>,
    failing: Arc<AtomicBool>,
}

impl Committer {
    /// Starts the commit thread. `window` is how long a batch may wait for
    /// more steps after its first one (0 = write what is queued at once).
    pub(crate) fn start(log: Arc<dyn StepLog>, window: Duration) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let failing = Arc::new(AtomicBool::new(false));
        let mut writer = Writer {
            log,
            failing: failing.clone(),
            broken: HashSet::new(),
            broken_order: VecDeque::new(),
        };
        thread::Builder::new()
            .name("tabhub-commit".into())
            .spawn(move || run(&mut writer, &rx, window))?;
        Ok(Self { tx, failing })
    }

    /// Whether the latest write failed for every step it carried: the
    /// store cannot commit now (a full or failed disk).
    pub(crate) fn failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// Hands over step number `id` of start `session` of a session, which
    /// hears back at `ack`.
    pub(crate) fn submit(&self, step: Step, id: u64, session: u64, ack: Recipient<Committed>) {
        if self
            .tx
            .send(Request::Step {
                step: Box::new(step),
                id,
                session,
                ack: ack.clone(),
            })
            .is_err()
        {
            ack.do_send(Committed {
                result: Err(StoreError::new(StoreCause::Stopped)),
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

/// The commit thread's state.
struct Writer {
    log: Arc<dyn StepLog>,
    failing: Arc<AtomicBool>,
    /// Session starts whose steps failed: their later steps are refused.
    broken: HashSet<u64>,
    broken_order: VecDeque<u64>,
}

/// How often a failing log is probed while no step arrives.
const PROBE_EVERY: Duration = Duration::from_millis(250);

fn run(writer: &mut Writer, rx: &mpsc::Receiver<Request>, window: Duration) {
    loop {
        let first = if writer.failing.load(Ordering::Acquire) {
            match rx.recv_timeout(PROBE_EVERY) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => {
                    writer.probe();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            }
        };
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
        writer.commit(batch);
    }
}

impl Writer {
    /// Asks a failing log whether it could take a write now; if it says
    /// so, the store no longer counts as failing.
    fn probe(&self) {
        if let Some(Ok(())) = self.log.probe() {
            tracing::info!("the store answers again");
            self.failing.store(false, Ordering::Release);
        }
    }

    /// Writes a batch and answers every step in it.
    fn commit(&mut self, batch: Vec<Request>) {
        // Steps of failed session starts are refused untried.
        let refused = |r: &Request| matches!(r, Request::Step { session, .. } if self.broken.contains(session));
        let steps: Vec<(u64, Step)> = batch
            .iter()
            .filter(|r| !refused(r))
            .filter_map(|r| match r {
                // A step with nothing to keep (a repeated event id, say)
                // still waits its turn for the acknowledgement.
                Request::Step { step, session, .. } if !step.is_empty() => {
                    Some((*session, (**step).clone()))
                }
                _ => None,
            })
            .collect();
        // One span per batch written: a commit is shared by every session
        // whose steps it carries, so it names none of them.
        let span = (!steps.is_empty()).then(|| {
            tracing::info_span!(
                "commit",
                steps = steps.len(),
                sessions = count_sessions(&steps)
            )
        });
        let failed = {
            let _entered = span.as_ref().map(tracing::Span::enter);
            self.write(&steps)
        };
        for request in batch {
            match request {
                Request::Step {
                    step,
                    id,
                    session,
                    ack,
                } => {
                    let result = match failed.get(&session) {
                        Some(e) => Err(e.clone()),
                        None if self.broken.contains(&session) => Err(StoreError::invalid(
                            "an earlier step of this session failed",
                        )
                        .for_key(&step.key)),
                        None => Ok(id),
                    };
                    ack.do_send(Committed { result });
                }
                Request::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
        for session in failed.into_keys() {
            self.remember_broken(session);
        }
    }

    /// Appends `steps` in one transaction, retried briefly; if it still
    /// fails, session by session. Returns the sessions whose steps failed.
    fn write(&self, steps: &[(u64, Step)]) -> HashMap<u64, StoreError> {
        if steps.is_empty() {
            return HashMap::new();
        }
        let all: Vec<Step> = steps.iter().map(|(_, s)| s.clone()).collect();
        let mut result = self.log.append(&all);
        for pause in RETRIES {
            let Err(e) = &result else { break };
            tracing::warn!(error = %e, steps = all.len(), "commit failed; retrying");
            thread::sleep(pause);
            result = self.log.append(&all);
        }
        if result.is_ok() {
            self.failing.store(false, Ordering::Release);
            return HashMap::new();
        }
        // Session by session, in order of their first step.
        let mut order: Vec<u64> = Vec::new();
        let mut by_session: HashMap<u64, Vec<Step>> = HashMap::new();
        for (session, step) in steps {
            by_session.entry(*session).or_insert_with(|| {
                order.push(*session);
                Vec::new()
            });
            if let Some(own) = by_session.get_mut(session) {
                own.push(step.clone());
            }
        }
        let mut failed = HashMap::new();
        for session in order {
            let own = by_session.remove(&session).unwrap_or_default();
            if let Err(e) = self.log.append(&own) {
                // The steps are of one key: the error names it (a key's
                // Display shows only its first characters).
                let e = match own.first() {
                    Some(step) => e.for_key(&step.key),
                    None => e,
                };
                tracing::error!(error = %e, steps = own.len(), "commit failed; the session restarts from the store");
                failed.insert(session, e);
            }
        }
        let sessions = failed.len();
        self.failing.store(
            sessions > 0 && sessions == count_sessions(steps),
            Ordering::Release,
        );
        failed
    }

    fn remember_broken(&mut self, session: u64) {
        if self.broken.insert(session) {
            self.broken_order.push_back(session);
            while self.broken_order.len() > BROKEN_REMEMBERED {
                if let Some(old) = self.broken_order.pop_front() {
                    self.broken.remove(&old);
                }
            }
        }
    }
}

/// Distinct sessions among `steps`.
fn count_sessions(steps: &[(u64, Step)]) -> usize {
    steps.iter().map(|(s, _)| *s).collect::<HashSet<_>>().len()
}
