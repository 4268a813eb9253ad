//! Turns to call the backend: two bounds of `--app-max-concurrency` calls
//! in flight each, and fair turns per session inside each bound.
//!
//! # Why two bounds
//!
//! A backend may, while answering a call, call the server API for
//! another session (an invitation, a notification) and wait for the
//! reply; that API call needs a backend call of its own. With one bound
//! held for the whole call, `--app-max-concurrency` such calls at once
//! hold every turn while each waits for a call that can never get one:
//! everything stalls until the deadlines. So calls are bounded by what
//! causes them:
//!
//! - [`Caller::Tab`]: what browsers cause directly, a tab's event (or
//!   re-submitted chain) and a join. Browsers are many and not the
//!   backend's to control; this bound protects the backend from them.
//! - [`Caller::Server`]: everything else: events submitted through the
//!   server API (or a session handle), loads (`URL/initial_state`: a load
//!   may be what an API call waits for) and cancels (`URL/cancel`: a
//!   cancel ends a task the backend started, so their number is the
//!   backend's doing).
//!
//! A server call never waits behind the tab calls that caused it, so one
//! level of nesting (a tab's event whose answer waits on an API call for
//! another session) cannot deadlock. A server call that itself waits on
//! another API call (nesting two deep) can fill the server bound the same
//! way: `docs/app-proxy.md` ("What holds") says so.
//!
//! Holding no bound while the backend works would not deadlock either,
//! but then nothing would limit how many calls browsers put on the
//! backend at once, and that limit is the flag's promise. Server calls
//! are bounded too, rather than left to how many API requests the backend
//! makes at once, so a backend looping on the API still meets a limit and
//! the pools stay a known size (twice the flag).
//!
//! # Fair turns
//!
//! Inside a bound, a session holds at most half of the turns (at least
//! one), so one session's calls (many tabs of one key joining against a
//! slow `URL/join`) can never take every turn; and a freed turn goes to
//! the sessions waiting in turn (round-robin over session keys, FIFO
//! within a session), not to the oldest call, so a flood of one session's
//! calls does not queue ahead of another session's one call.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// Who a backend call is for: decides which bound it takes a turn from.
#[derive(Clone, Copy, Debug)]
pub(super) struct Caller<'a> {
    /// The session the call is for; turns are shared fairly by key.
    pub(super) key: &'a str,
    /// What caused the call.
    pub(super) cause: Cause,
}

/// What caused a backend call (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cause {
    /// A tab's event or chain, or a join.
    Tab,
    /// An event from server code (the server API), a load, a cancel.
    Server,
}

/// The two bounds. Clones share them.
#[derive(Clone)]
pub(super) struct Turns {
    tab: Arc<Bound>,
    server: Arc<Bound>,
}

impl Turns {
    /// Two bounds of `size` turns each (at least one).
    pub(super) fn new(size: usize) -> Self {
        Self {
            tab: Arc::new(Bound::new(size)),
            server: Arc::new(Bound::new(size)),
        }
    }

    /// Waits for a turn for `caller`; the call holds it until the
    /// returned [`Turn`] is dropped. Cancel-safe: a waiter dropped (its
    /// deadline passed) leaves no turn taken.
    pub(super) async fn take(&self, caller: Caller<'_>) -> Turn {
        let bound = match caller.cause {
            Cause::Tab => &self.tab,
            Cause::Server => &self.server,
        };
        bound.take(caller.key).await
    }
}

/// One bound's bookkeeping, under its lock.
struct Ledger {
    /// Turns not held.
    free: usize,
    /// Turns held, by session key (no entry: none).
    held: HashMap<String, usize>,
    /// Waiters by session key, oldest first (no entry: none).
    waiting: HashMap<String, VecDeque<oneshot::Sender<()>>>,
    /// Sessions with waiters, in the order they get the next turns.
    ring: VecDeque<String>,
}

/// One bound: `size` turns, at most `share` held by one session.
struct Bound {
    share: usize,
    ledger: Mutex<Ledger>,
}

impl Bound {
    fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            share: (size / 2).max(1),
            ledger: Mutex::new(Ledger {
                free: size,
                held: HashMap::new(),
                waiting: HashMap::new(),
                ring: VecDeque::new(),
            }),
        }
    }

    /// The ledger; a panic elsewhere while it was held left it consistent
    /// (every change below is completed before anything can panic).
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn take(self: &Arc<Self>, key: &str) -> Turn {
        let granted = {
            let mut ledger = self.ledger();
            let held = ledger.held.get(key).copied().unwrap_or(0);
            // A session's calls keep their order: none passes its elders.
            if ledger.free > 0 && held < self.share && !ledger.waiting.contains_key(key) {
                ledger.free -= 1;
                *ledger.held.entry(key.to_owned()).or_default() += 1;
                None
            } else {
                let (tx, rx) = oneshot::channel();
                match ledger.waiting.get_mut(key) {
                    Some(queue) => queue.push_back(tx),
                    None => {
                        ledger.waiting.insert(key.to_owned(), VecDeque::from([tx]));
                        ledger.ring.push_back(key.to_owned());
                    }
                }
                Some(rx)
            }
        };
        if let Some(rx) = granted {
            let mut waiter = Waiter {
                bound: self,
                key,
                rx: Some(rx),
            };
            waiter.wait().await;
        }
        Turn {
            bound: self.clone(),
            key: key.to_owned(),
        }
    }

    /// `key` gives back a turn; the freed turn goes to the next waiter.
    fn give_back(&self, key: &str) {
        let mut ledger = self.ledger();
        if let Some(held) = ledger.held.get_mut(key) {
            *held -= 1;
            if *held == 0 {
                ledger.held.remove(key);
            }
        }
        ledger.free += 1;
        self.hand_out(&mut ledger);
    }

    /// Grants free turns to waiting sessions in ring order, skipping those
    /// at their share (they keep their place for the next turn).
    fn hand_out(&self, ledger: &mut Ledger) {
        let mut skipped = 0;
        while ledger.free > 0 && skipped < ledger.ring.len() {
            let Some(key) = ledger.ring.pop_front() else {
                return;
            };
            let held = ledger.held.get(&key).copied().unwrap_or(0);
            if held >= self.share {
                ledger.ring.push_back(key);
                skipped += 1;
                continue;
            }
            skipped = 0;
            let mut granted = false;
            let mut empty = true;
            if let Some(queue) = ledger.waiting.get_mut(&key) {
                // A waiter whose deadline passed is gone: try the next.
                while let Some(tx) = queue.pop_front() {
                    if tx.send(()).is_ok() {
                        granted = true;
                        break;
                    }
                }
                empty = queue.is_empty();
            }
            if granted {
                ledger.free -= 1;
                *ledger.held.entry(key.clone()).or_default() += 1;
            }
            if empty {
                ledger.waiting.remove(&key);
            } else {
                ledger.ring.push_back(key);
            }
        }
    }
}

/// A call waiting for a turn. If it is dropped (its deadline passed) after
/// a turn was granted to it, it gives the turn back.
struct Waiter<'a> {
    bound: &'a Bound,
    key: &'a str,
    rx: Option<oneshot::Receiver<()>>,
}

impl Waiter<'_> {
    async fn wait(&mut self) {
        if let Some(rx) = &mut self.rx {
            // The sender lives in the ledger until it grants the turn (the
            // bound outlives its waiters), so this ends only by a grant.
            let _ = rx.await;
        }
        self.rx = None;
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.bound.give_back(self.key);
            }
        }
    }
}

/// A turn held: given back when dropped.
pub(super) struct Turn {
    bound: Arc<Bound>,
    key: String,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.bound.give_back(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;

    /// Whether `take` waits (polled once, nothing woken).
    fn pending<F: Future>(take: Pin<&mut F>) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        take.poll(&mut cx).is_pending()
    }

    fn caller(key: &str) -> Caller<'_> {
        Caller {
            key,
            cause: Cause::Tab,
        }
    }

    #[tokio::test]
    async fn a_session_holds_at_most_half_the_turns_and_others_get_the_rest() {
        let turns = Turns::new(4);
        let _a1 = turns.take(caller("a")).await;
        let _a2 = turns.take(caller("a")).await;
        let third = turns.take(caller("a"));
        tokio::pin!(third);
        assert!(pending(third.as_mut()));
        let _b1 = turns.take(caller("b")).await;
        let _b2 = turns.take(caller("b")).await;
    }

    #[tokio::test]
    async fn a_freed_turn_goes_round_robin_over_waiting_sessions() {
        let turns = Turns::new(2);
        let a = turns.take(caller("a")).await;
        let b = turns.take(caller("b")).await;
        let a2 = turns.take(caller("a"));
        let a3 = turns.take(caller("a"));
        let c1 = turns.take(caller("c"));
        tokio::pin!(a2, a3, c1);
        assert!(pending(a2.as_mut()));
        assert!(pending(a3.as_mut()));
        assert!(pending(c1.as_mut()));
        // b's turn goes to c (a is at its share); a's turn to a's oldest.
        drop(b);
        let _c1 = c1.await;
        drop(a);
        let _a2 = a2.await;
        assert!(pending(a3.as_mut()));
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_turn_taken() {
        let turns = Turns::new(2);
        let a = turns.take(caller("a")).await;
        {
            let gave_up = turns.take(caller("a"));
            tokio::pin!(gave_up);
            assert!(pending(gave_up.as_mut()));
        }
        drop(a);
        let _a = turns.take(caller("a")).await;
        let _b = turns.take(caller("b")).await;
    }

    #[tokio::test]
    async fn tab_calls_and_server_calls_have_bounds_of_their_own() {
        let turns = Turns::new(1);
        let _tab = turns.take(caller("a")).await;
        let server = Caller {
            key: "b",
            cause: Cause::Server,
        };
        let _server = turns.take(server).await;
    }
}
