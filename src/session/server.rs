//! What server code asks of a session through a [`crate::SessionHandle`]:
//! submit an event (the one event path of `events.rs`, the same queue as
//! tabs, idempotent by id), read the state, send an effect, cancel a task. These messages carry the app's
//! types, so they live here rather than in `crate::messages`.

use actix::{Handler, Message, ResponseFuture};
use serde_json::Value;
use tokio::sync::oneshot;

use super::events::{Body, Incoming, Submitter};
use super::{Phase, SessionActor};
use crate::app::{App, Target};
use crate::ids::Epoch;
use crate::protocol::event;
use crate::protocol::message::{self, EffectPayload};
use crate::protocol::reply::Outcome;

/// Sent by a session handle: handle `event` in the session's queue, like
/// a tab's event with this id (a repeated id gets the first outcome).
/// Replies with the outcome, as a tab's reply would carry it, or
/// [`NotHandled`] if the session could not handle it.
pub(crate) struct ServerSubmit<A: App> {
    pub(crate) id: String,
    pub(crate) event: ServerEvent<A>,
}

/// A server's event: typed by server code, or by name and payload as the
/// server API gets it (decoded by the app like a tab's event).
pub(crate) enum ServerEvent<A: App> {
    Typed(A::Event),
    Named { name: String, payload: Value },
}

/// Why a session did not handle a server's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotHandled {
    /// Its store failed; a fresh session will load from the store.
    StoreFailed,
    /// It stopped before it answered.
    Stopped,
}

impl<A: App> Message for ServerSubmit<A> {
    type Result = Result<Outcome, NotHandled>;
}

/// Sent by a session handle; replies with the state, its seq and epoch,
/// once that state is durable (every step before the read is).
pub(crate) struct ReadState<A: App>(std::marker::PhantomData<A>);

impl<A: App> ReadState<A> {
    pub(crate) fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

/// A session's state as server code reads it: a copy, at `seq` of `epoch`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StateView<S> {
    /// The state at `seq`.
    pub state: S,
    /// The session's seq.
    pub seq: u64,
    /// The session's epoch.
    pub epoch: Epoch,
}

impl<A: App> Message for ReadState<A> {
    type Result = Result<StateView<A::State>, String>;
}

/// Sent by a session handle: an effect to every tab (`Target::All`, and
/// `Target::Origin` means all here) or one tab. Replies whether the
/// session could send it (not while it failed).
pub(crate) struct ServerEffect {
    pub(crate) target: Target,
    pub(crate) kind: String,
    pub(crate) data: Value,
}

impl Message for ServerEffect {
    type Result = bool;
}

/// Sent by a session handle: cancel a background task; replies, once the
/// cancel is durable, whether one was running, or [`NotHandled`] if the
/// store failed first (the task then runs on as the store has it).
pub(crate) struct ServerCancel {
    pub(crate) task: String,
}

impl Message for ServerCancel {
    type Result = Result<bool, NotHandled>;
}

impl<A: App> Handler<ServerSubmit<A>> for SessionActor<A> {
    type Result = ResponseFuture<Result<Outcome, NotHandled>>;

    fn handle(&mut self, msg: ServerSubmit<A>, ctx: &mut Self::Context) -> Self::Result {
        if self.phase != Phase::Ready {
            return Box::pin(async { Err(NotHandled::StoreFailed) });
        }
        let (tx, rx) = oneshot::channel();
        let body = match msg.event {
            ServerEvent::Typed(event) => Body::Typed(event),
            ServerEvent::Named { name, payload } => Body::Named {
                name,
                payload,
                chain: None,
            },
        };
        let incoming = Incoming {
            id: msg.id,
            body,
            from: Submitter::Server(tx),
        };
        self.submit(incoming, ctx);
        // No answer: the session stopped, or its store failed, before the
        // event's step was durable.
        Box::pin(async move { rx.await.map_err(|_| NotHandled::Stopped) })
    }
}

impl<A: App> Handler<ReadState<A>> for SessionActor<A> {
    type Result = ResponseFuture<Result<StateView<A::State>, String>>;

    fn handle(&mut self, _msg: ReadState<A>, ctx: &mut Self::Context) -> Self::Result {
        let store_failed =
            || "the session's store failed; call again for a fresh session".to_owned();
        if self.phase != Phase::Ready {
            return Box::pin(async move { Err(store_failed()) });
        }
        let view = serde_json::from_value(self.state_json.clone())
            .map(|state| StateView {
                state,
                seq: self.seq,
                epoch: self.epoch.clone(),
            })
            .map_err(|e| format!("the state does not round-trip through serde: {e}"));
        // The state at this seq is durable once every step so far is: the
        // read answers in a step of its own, which the outbox lets out only
        // then (no read shows a state a crash could take back).
        let (tx, rx) = oneshot::channel();
        self.step(ctx, |session, _, _| {
            session.durable.answer(move || {
                let _ = tx.send(view);
            });
        });
        Box::pin(async move { rx.await.unwrap_or_else(|_| Err(store_failed())) })
    }
}

impl<A: App> Handler<ServerEffect> for SessionActor<A> {
    type Result = bool;

    fn handle(&mut self, msg: ServerEffect, _ctx: &mut Self::Context) -> bool {
        if self.phase != Phase::Ready {
            return false;
        }
        let payload = message::to_raw(&EffectPayload {
            kind: &msg.kind,
            data: &msg.data,
        });
        match &msg.target {
            Target::Tab(tab) => self.push_to(tab, event::EFFECT, payload),
            Target::Origin | Target::All => self.broadcast(event::EFFECT, payload),
        }
        true
    }
}

impl<A: App> Handler<ServerCancel> for SessionActor<A> {
    type Result = ResponseFuture<Result<bool, NotHandled>>;

    fn handle(&mut self, msg: ServerCancel, ctx: &mut Self::Context) -> Self::Result {
        if self.phase != Phase::Ready {
            return Box::pin(async { Err(NotHandled::StoreFailed) });
        }
        let (tx, rx) = oneshot::channel();
        self.step(ctx, |session, step, ctx| {
            let cancelled = session.cancel_task(step, &msg.task, ctx);
            session.durable.answer(move || {
                let _ = tx.send(cancelled);
            });
        });
        // No answer: the store failed and dropped it with the step.
        Box::pin(async move { rx.await.map_err(|_| NotHandled::StoreFailed) })
    }
}
