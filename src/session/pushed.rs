//! State changes pushed by server code rather than made by a handler (the
//! server API, a [`crate::SessionHandle`]): a patch or a whole state, on
//! its own or as a running task's update, and a task's end decided
//! outside its body. Each is one step in the session's queue, in order
//! with events: the change becomes one delta (`event_id: null`) to every
//! tab.

use actix::{Handler, Message, ResponseFuture};
use tokio::sync::oneshot;

use serde_json::Value;

use super::{Phase, SessionActor};
use crate::app::{App, AppError, Origin, TaskEnd};
use crate::delta::{ChangeError, StateChange};

/// Why a pushed change was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushRefused {
    /// It names a task that is not running (it ended, or was cancelled).
    TaskGone,
    /// The patch does not apply, or the new JSON is not a valid state.
    Invalid(String),
    /// The session failed (its store), before or while applying it; a
    /// fresh one will load.
    NotReady,
}

/// Answers a push once its step is durable (as a tab's reply would be);
/// `NotReady` if the store failed first.
fn answered(
    result: Result<u64, PushRefused>,
    durable: &super::durable::Durability,
) -> ResponseFuture<Result<u64, PushRefused>> {
    let (tx, rx) = oneshot::channel();
    durable.answer(move || {
        let _ = tx.send(result);
    });
    Box::pin(async move { rx.await.unwrap_or(Err(PushRefused::NotReady)) })
}

/// What server code pushes into a session in one step: a change of the
/// state, a new summary (docs/protocol.md section 5.8 (summary joins)), or both. The default is
/// neither (a step that changes nothing).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Push {
    /// The state change, if any: one delta with `event_id: null`.
    pub change: Option<StateChange>,
    /// The session's new summary for summary joins, if any.
    pub summary: Option<Value>,
}

impl From<StateChange> for Push {
    fn from(change: StateChange) -> Self {
        Self {
            change: Some(change),
            summary: None,
        }
    }
}

/// Sent by a session handle: apply `push`; with `task`, as that running
/// task's update. Replies with the seq after it.
pub(crate) struct PushChange {
    pub(crate) task: Option<String>,
    pub(crate) push: Push,
}

impl Message for PushChange {
    type Result = Result<u64, PushRefused>;
}

/// Sent by a session handle: end the running task `task` as `end`, after
/// applying `push` as its last update, in one step. Replies with the seq
/// after both.
pub(crate) struct EndTask {
    pub(crate) task: String,
    pub(crate) end: TaskEnd,
    pub(crate) push: Push,
}

impl Message for EndTask {
    type Result = Result<u64, PushRefused>;
}

impl<A: App> SessionActor<A> {
    fn check_push(&self, task: Option<&str>) -> Result<(), PushRefused> {
        if self.phase != Phase::Ready {
            return Err(PushRefused::NotReady);
        }
        match task {
            Some(task) if !self.tasks.is_running(task) => Err(PushRefused::TaskGone),
            _ => Ok(()),
        }
    }

    /// The typed state after `push`'s change (if any), from the JSON at
    /// the current seq.
    fn changed_state(&self, push: &Push) -> Result<Option<A::State>, PushRefused> {
        push.change
            .as_ref()
            .map(|change| self.state_after(change))
            .transpose()
    }

    fn state_after(&self, change: &StateChange) -> Result<A::State, PushRefused> {
        let after = change
            .apply_within(&self.state_json, self.config.max_state_bytes)
            .map_err(|e| match e {
                ChangeError::DoesNotApply(why) => {
                    PushRefused::Invalid(format!("the patch does not apply: {why}"))
                }
                other => PushRefused::Invalid(other.to_string()),
            })?;
        serde_json::from_value(after)
            .map_err(|e| PushRefused::Invalid(format!("not a valid state for this app: {e}")))
    }

    /// Applies `new_state` (if any) and `summary` (if any) in the
    /// caller's step, as the code of `origin`.
    fn install_change(
        &mut self,
        step: &mut crate::store::Step,
        origin: Origin,
        new_state: Option<A::State>,
        summary: Option<Value>,
        ctx: &mut super::Ctx<A>,
    ) -> Result<u64, PushRefused> {
        self.apply(step, origin, None, ctx, move |_, state, cx| {
            if let Some(new_state) = new_state {
                *state = new_state;
            }
            if let Some(summary) = summary {
                cx.set_summary(summary);
            }
            Ok(())
        })
        .map_err(|e: AppError| PushRefused::Invalid(e.message))
    }
}

impl<A: App> Handler<PushChange> for SessionActor<A> {
    type Result = ResponseFuture<Result<u64, PushRefused>>;

    fn handle(&mut self, msg: PushChange, ctx: &mut Self::Context) -> Self::Result {
        let checked = self
            .check_push(msg.task.as_deref())
            .and_then(|()| self.changed_state(&msg.push));
        let new_state = match checked {
            Ok(new_state) => new_state,
            Err(refused) => return Box::pin(async move { Err(refused) }),
        };
        let origin = match msg.task {
            Some(task) => {
                self.app.task_pushed(&self.key, &task);
                Origin::Task(task)
            }
            None => Origin::Server,
        };
        self.step(ctx, |session, step, ctx| {
            let summary = msg.push.summary;
            let result = session.install_change(step, origin, new_state, summary, ctx);
            answered(result, &session.durable)
        })
    }
}

impl<A: App> Handler<EndTask> for SessionActor<A> {
    type Result = ResponseFuture<Result<u64, PushRefused>>;

    fn handle(&mut self, msg: EndTask, ctx: &mut Self::Context) -> Self::Result {
        let checked = self
            .check_push(Some(&msg.task))
            .and_then(|()| self.changed_state(&msg.push));
        let new_state = match checked {
            Ok(new_state) => new_state,
            Err(refused) => return Box::pin(async move { Err(refused) }),
        };
        self.step(ctx, |session, step, ctx| {
            let origin = Origin::Task(msg.task.clone());
            let summary = msg.push.summary;
            let result = session.install_change(step, origin, new_state, summary, ctx);
            let result = result.map(|_| {
                session.stop_task(step, &msg.task, msg.end, ctx);
                session.seq
            });
            answered(result, &session.durable)
        })
    }
}
