//! Stopping a session and deleting a key on request: a session handle's
//! `stop` and `delete` ([`Retire`]) and the retention sweeper's expiry of
//! idle keys ([`Expire`]).
//!
//! While a key's session stops, or while the key is deleted from the store
//! (on the blocking pool; the supervisor never waits for it), the key is
//! fenced: joins, summary joins, session handles' lookups and further
//! retires of it wait in [`Parked`] and are handled, in arrival order per
//! kind, once it is done. A join after a delete so starts a fresh session
//! (the app's initial state, a new epoch: cursors resync by snapshot), and
//! a key is never deleted while a session of it is live.

use std::time::SystemTime;

use actix::{
    ActorFutureExt, AsyncContext, Context, Handler, MailboxError, Message, ResponseFuture,
    WrapFuture,
};
use tokio::sync::oneshot;

use super::lookup::ParkedLookup;
use super::Supervisor;
use crate::app::App;
use crate::ids::{ConnId, SessionKey, TabId};
use crate::messages::{Join, Stop, StopMode, StopOutcome};
use crate::store::blocking;

/// What waits for a fenced key.
pub(super) struct Parked<A: App> {
    pub(super) joins: Vec<Join>,
    pub(super) lookups: Vec<ParkedLookup<A>>,
    retires: Vec<RetireRequest>,
    /// Summary joins that ended while the key's session stopped: left out
    /// of the list it hands back, as it may stop before it hears of them.
    pub(super) unwatched: Vec<(TabId, ConnId)>,
}

impl<A: App> Default for Parked<A> {
    fn default() -> Self {
        Self {
            joins: Vec::new(),
            lookups: Vec::new(),
            retires: Vec::new(),
            unwatched: Vec::new(),
        }
    }
}

/// Sent by a session handle: stop the key's live session now (its tabs
/// and summary joins rejoin), and with `delete`, then delete the key from
/// the store.
pub(crate) struct Retire {
    pub(crate) key: SessionKey,
    pub(crate) delete: bool,
}

impl Message for Retire {
    type Result = Result<Retired, RetireError>;
}

/// What a [`Retire`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Retired {
    /// A session of the key was live and was stopped.
    pub(crate) was_live: bool,
    /// The store held the key and deleted it (always `false` without
    /// `delete`).
    pub(crate) deleted: bool,
}

/// Why a [`Retire`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RetireError {
    /// The service is shutting down.
    ShuttingDown,
    /// The session could not save itself (it keeps running), or the store
    /// could not delete the key (it is kept).
    Store(String),
}

struct RetireRequest {
    delete: bool,
    reply: oneshot::Sender<Result<Retired, RetireError>>,
}

/// Sent by the retention sweeper: delete those of `keys` that have no live
/// session and whose last activity is still older than `cutoff`, and stamp
/// the live ones as active now (a live session is in use: stamped, it
/// leaves the head of the oldest-first index, so the sweep moves past it
/// to the idle keys behind). Replies with what became of the keys; `None`
/// once the service shuts down.
pub(crate) struct Expire {
    pub(crate) keys: Vec<SessionKey>,
    pub(crate) cutoff: SystemTime,
}

/// What an [`Expire`] did with its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Swept {
    /// Keys deleted.
    pub(crate) deleted: usize,
    /// Keys that stay where the oldest-first index had them: fenced (a
    /// stop or delete on request is under way) or a store call failed.
    /// Listing again at once would list them again.
    pub(crate) stuck: usize,
}

impl Message for Expire {
    type Result = Option<Swept>;
}

impl<A: App> Supervisor<A> {
    /// Where what arrives for `key` waits, if the key is fenced (its
    /// session stopping, or the key being deleted).
    pub(super) fn parked_for(&mut self, key: &SessionKey) -> Option<&mut Parked<A>> {
        if let Some(parked) = self.fenced.get_mut(key) {
            return Some(parked);
        }
        self.sessions.get_mut(key).and_then(|e| e.stopping.as_mut())
    }

    /// Handles what waited for `key`, now that it is no longer fenced.
    pub(super) fn replay(&mut self, key: &SessionKey, parked: Parked<A>, ctx: &mut Context<Self>) {
        for join in parked.joins {
            self.join(join, ctx);
        }
        for park in parked.lookups {
            self.look_up(key, park, ctx);
        }
        for request in parked.retires {
            self.retire(key.clone(), request, ctx);
        }
    }

    fn retire(&mut self, key: SessionKey, request: RetireRequest, ctx: &mut Context<Self>) {
        if self.shutting_down {
            let _ = request.reply.send(Err(RetireError::ShuttingDown));
            return;
        }
        if let Some(parked) = self.parked_for(&key) {
            parked.retires.push(request);
            return;
        }
        if self.sessions.get(&key).is_some_and(|e| !e.addr.connected()) {
            self.sessions.remove(&key);
        }
        let Some(entry) = self.sessions.get_mut(&key) else {
            if request.delete {
                self.fence_and_delete(key, request, false, ctx);
            } else {
                let _ = request.reply.send(Ok(Retired {
                    was_live: false,
                    deleted: false,
                }));
            }
            return;
        };
        if let Some(grace) = entry.grace.take() {
            ctx.cancel_future(grace);
        }
        entry.stopping = Some(Parked::default());
        tracing::info!(key = %key, tabs = entry.tabs.len(), delete = request.delete, "stopping a session on request");
        let incarnation = entry.incarnation;
        self.ask_to_stop(key, incarnation, request, ctx);
    }

    fn ask_to_stop(
        &mut self,
        key: SessionKey,
        incarnation: u64,
        request: RetireRequest,
        ctx: &mut Context<Self>,
    ) {
        let Some(entry) = self.sessions.get(&key) else {
            return self.retire(key, request, ctx);
        };
        let stop = entry.addr.send(Stop {
            mode: StopMode::Now {
                save: !request.delete,
            },
        });
        ctx.spawn(stop.into_actor(self).map(move |result, act, ctx| {
            act.stop_on_request_answered(key, incarnation, request, result, ctx);
        }));
    }

    fn stop_on_request_answered(
        &mut self,
        key: SessionKey,
        incarnation: u64,
        request: RetireRequest,
        result: Result<StopOutcome, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        let current = self
            .sessions
            .get(&key)
            .is_some_and(|e| e.incarnation == incarnation);
        if !current {
            // The session ended meanwhile (a store failure): start over,
            // which stops whatever session of the key is live now.
            return self.retire(key, request, ctx);
        }
        match result {
            // `Busy` answers only a stop if idle; a stop on request is
            // answered once the session has drained.
            Ok(StopOutcome::SaveFailed | StopOutcome::Busy) => {
                let parked = self
                    .sessions
                    .get_mut(&key)
                    .and_then(|e| e.stopping.take())
                    .unwrap_or_default();
                let _ = request.reply.send(Err(RetireError::Store(
                    "the session could not save itself; it keeps running".into(),
                )));
                self.start_grace(&key, ctx);
                self.replay(&key, parked, ctx);
            }
            Ok(StopOutcome::Stopped(_)) | Err(_) => {
                let parked = self.forget_stopped(&key, result.ok());
                if request.delete {
                    self.fenced.insert(key.clone(), parked);
                    self.fence_and_delete(key, request, true, ctx);
                } else {
                    let _ = request.reply.send(Ok(Retired {
                        was_live: true,
                        deleted: false,
                    }));
                    self.replay(&key, parked, ctx);
                }
            }
        }
    }

    /// Fences `key` (no live session) and deletes it on the blocking pool;
    /// then lifts the fence and answers.
    fn fence_and_delete(
        &mut self,
        key: SessionKey,
        request: RetireRequest,
        was_live: bool,
        ctx: &mut Context<Self>,
    ) {
        self.fenced.entry(key.clone()).or_default();
        let store = self.store.clone();
        let delete_key = key.clone();
        let deleting = blocking(Some(&key), move || store.delete(&delete_key));
        ctx.spawn(deleting.into_actor(self).map(move |deleted, act, ctx| {
            let answer = match deleted {
                Ok(deleted) => {
                    tracing::info!(key = %key, deleted, "key deleted on request");
                    Ok(Retired { was_live, deleted })
                }
                Err(e) => {
                    tracing::error!(key = %key, error = %e, "could not delete the key");
                    Err(RetireError::Store(e.to_string()))
                }
            };
            let _ = request.reply.send(answer);
            let parked = act.fenced.remove(&key).unwrap_or_default();
            act.replay(&key, parked, ctx);
        }));
    }
}

impl<A: App> Handler<Retire> for Supervisor<A> {
    type Result = ResponseFuture<Result<Retired, RetireError>>;

    fn handle(&mut self, msg: Retire, ctx: &mut Self::Context) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        let request = RetireRequest {
            delete: msg.delete,
            reply,
        };
        self.retire(msg.key, request, ctx);
        Box::pin(async move { answer.await.unwrap_or(Err(RetireError::ShuttingDown)) })
    }
}

impl<A: App> Handler<Expire> for Supervisor<A> {
    type Result = ResponseFuture<Option<Swept>>;

    /// Fences the keys with no live session and nothing in flight, then in
    /// one call to the blocking pool deletes those still idle and stamps
    /// the live ones as active, then lifts the fences: the work of one
    /// sweep is bounded by the batch it was given.
    fn handle(&mut self, msg: Expire, ctx: &mut Self::Context) -> Self::Result {
        if self.shutting_down {
            return Box::pin(async { None });
        }
        let mut idle = Vec::new();
        let mut live = Vec::new();
        let mut fenced = 0;
        for key in msg.keys {
            if self.fenced.contains_key(&key) {
                fenced += 1;
            } else if self.sessions.contains_key(&key) {
                live.push(key);
            } else {
                idle.push(key);
            }
        }
        for key in &idle {
            self.fenced.insert(key.clone(), Parked::default());
        }
        let (reply, answer) = oneshot::channel();
        let store = self.store.clone();
        let cutoff = msg.cutoff;
        let to_delete = idle.clone();
        let sweeping = actix_rt::task::spawn_blocking(move || {
            let mut swept = Swept {
                deleted: 0,
                stuck: fenced,
            };
            for key in &to_delete {
                match store.delete_if_idle(key, cutoff) {
                    Ok(true) => swept.deleted += 1,
                    // Active since it was listed: no longer at the head.
                    Ok(false) => {}
                    Err(e) => {
                        swept.stuck += 1;
                        tracing::error!(key = %key, error = %e, "could not expire the key");
                    }
                }
            }
            for key in &live {
                if let Err(e) = store.touch(key) {
                    swept.stuck += 1;
                    tracing::error!(key = %key, error = %e, "could not stamp a live session as active");
                }
            }
            swept
        });
        ctx.spawn(sweeping.into_actor(self).map(move |done, act, ctx| {
            let swept = done.unwrap_or_else(|e| {
                tracing::error!(error = %e, "the expiry sweep panicked; its keys are kept");
                Swept {
                    deleted: 0,
                    stuck: idle.len(),
                }
            });
            if swept.deleted > 0 {
                tracing::info!(deleted = swept.deleted, "idle sessions expired");
            }
            for key in idle {
                let parked = act.fenced.remove(&key).unwrap_or_default();
                act.replay(&key, parked, ctx);
            }
            let _ = reply.send(Some(swept));
        }));
        Box::pin(async move { answer.await.unwrap_or(None) })
    }
}
