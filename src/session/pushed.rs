//! State changes pushed by server code rather than made by a handler (the
//! server API, a [`crate::SessionHandle`]): a patch or a whole state, on
//! its own or as a running task's update, and a task's end decided
//! outside its body. Each is one step in the session's queue, in order
//! with events: the change becomes one delta (`event_id: null`) to every
//! tab.

use actix::{Handler, Message};

use super::{Phase, SessionActor};
use crate::app::{App, AppError, Origin, TaskEnd};
use crate::delta::StateChange;

/// Why a pushed change was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushRefused {
    /// It names a task that is not running (it ended, or was cancelled).
    TaskGone,
    /// The patch does not apply, or the new JSON is not a valid state.
    Invalid(String),
    /// The session failed (its store); a fresh one will load.
    NotReady,
}

/// Sent by a session handle: apply `change`; with `task`, as that running
/// task's update. Replies with the seq after it.
pub(crate) struct PushChange {
    pub(crate) task: Option<String>,
    pub(crate) change: StateChange,
}

impl Message for PushChange {
    type Result = Result<u64, PushRefused>;
}

/// Sent by a session handle: end the running task `task` as `end`, after
/// applying `change` (if any) as its last update, in one step. Replies
/// with the seq after both.
pub(crate) struct EndTask {
    pub(crate) task: String,
    pub(crate) end: TaskEnd,
    pub(crate) change: Option<StateChange>,
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

    /// The typed state after `change`, from the JSON at the current seq.
    fn changed_state(&self, change: &StateChange) -> Result<A::State, PushRefused> {
        let after = change
            .apply_to(&self.state_json)
            .map_err(|why| PushRefused::Invalid(format!("the patch does not apply: {why}")))?;
        serde_json::from_value(after)
            .map_err(|e| PushRefused::Invalid(format!("not a valid state for this app: {e}")))
    }

    /// Applies `new_state` in the caller's step, as the code of `origin`.
    fn install_change(
        &mut self,
        step: &mut crate::store::Step,
        origin: Origin,
        new_state: A::State,
        ctx: &mut super::Ctx<A>,
    ) -> Result<u64, PushRefused> {
        self.apply(step, origin, None, ctx, move |_, state, _| {
            *state = new_state;
            Ok(())
        })
        .map_err(|e: AppError| PushRefused::Invalid(e.message))
    }
}

impl<A: App> Handler<PushChange> for SessionActor<A> {
    type Result = Result<u64, PushRefused>;

    fn handle(&mut self, msg: PushChange, ctx: &mut Self::Context) -> Self::Result {
        self.check_push(msg.task.as_deref())?;
        let new_state = self.changed_state(&msg.change)?;
        let origin = match msg.task {
            Some(task) => Origin::Task(task),
            None => Origin::Server,
        };
        self.step(ctx, |session, step, ctx| {
            session.install_change(step, origin, new_state, ctx)
        })
    }
}

impl<A: App> Handler<EndTask> for SessionActor<A> {
    type Result = Result<u64, PushRefused>;

    fn handle(&mut self, msg: EndTask, ctx: &mut Self::Context) -> Self::Result {
        self.check_push(Some(&msg.task))?;
        let new_state = match &msg.change {
            Some(change) => Some(self.changed_state(change)?),
            None => None,
        };
        self.step(ctx, |session, step, ctx| {
            if let Some(new_state) = new_state {
                let origin = Origin::Task(msg.task.clone());
                session.install_change(step, origin, new_state, ctx)?;
            }
            session.stop_task(step, &msg.task, msg.end, ctx);
            Ok(session.seq)
        })
    }
}
