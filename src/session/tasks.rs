//! Background tasks of a session: they outlive every tab, change state only
//! through the session's queue, and can be cancelled from any tab.

use std::collections::HashMap;

use actix::{ActorFutureExt, AsyncContext, SpawnHandle, WrapFuture};

use super::{Ctx, SessionActor, SessionIdle};
use crate::app::{App, AppError, Origin, TaskEnd, TaskHandle};
use crate::protocol::event;
use crate::protocol::message::{self, TaskPayload, TaskStatus};

struct Running {
    generation: u64,
    handle: SpawnHandle,
}

/// Running tasks by key. A generation number tells a task's updates and end
/// apart from those of an earlier task with the same key.
#[derive(Default)]
pub(super) struct Tasks {
    running: HashMap<String, Running>,
    generations: u64,
}

impl Tasks {
    pub(super) fn is_running(&self, key: &str) -> bool {
        self.running.contains_key(key)
    }

    pub(super) fn is_current(&self, key: &str, generation: u64) -> bool {
        self.running
            .get(key)
            .is_some_and(|r| r.generation == generation)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

impl<A: App> SessionActor<A> {
    /// Starts a task body on this session's thread and tells every tab.
    pub(super) fn start_task(
        &mut self,
        key: String,
        body: crate::app::TaskBodyFn<A>,
        ctx: &mut Ctx<A>,
    ) {
        if self.tasks.is_running(&key) {
            tracing::warn!(key = %self.key, task = key, "task already running; not started again");
            return;
        }
        self.tasks.generations += 1;
        let generation = self.tasks.generations;
        let handle = TaskHandle {
            session: ctx.address(),
            key: key.clone(),
            generation,
        };
        let finished_key = key.clone();
        let spawn = ctx.spawn(body(handle).into_actor(self).map(move |result, act, ctx| {
            act.task_finished(&finished_key, generation, result, ctx);
        }));
        self.tasks.running.insert(
            key.clone(),
            Running {
                generation,
                handle: spawn,
            },
        );
        tracing::debug!(key = %self.key, task = key, "task started");
        self.broadcast_task(&key, TaskStatus::Running, None);
    }

    fn task_finished(
        &mut self,
        key: &str,
        generation: u64,
        result: Result<(), AppError>,
        ctx: &mut Ctx<A>,
    ) {
        if !self.tasks.is_current(key, generation) {
            return;
        }
        self.tasks.running.remove(key);
        let end = match result {
            Ok(()) => TaskEnd::Done,
            Err(e) => TaskEnd::Failed(e.message),
        };
        self.begin_step();
        self.end_task(key, end, ctx);
        self.end_step(ctx);
    }

    /// Cancels a running task; returns whether one was running.
    pub(super) fn cancel_task(&mut self, key: &str, ctx: &mut Ctx<A>) -> bool {
        let Some(running) = self.tasks.running.remove(key) else {
            return false;
        };
        ctx.cancel_future(running.handle);
        self.end_task(key, TaskEnd::Cancelled, ctx);
        true
    }

    /// Lets the app record the end in state (a delta with `event_id: null`),
    /// tells every tab, and tells the supervisor when no task runs any more.
    fn end_task(&mut self, key: &str, end: TaskEnd, ctx: &mut Ctx<A>) {
        let result = self.apply(Origin::Task(key.to_owned()), None, ctx, |app, state, cx| {
            app.task_ended(state, key, &end, cx);
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(key = %self.key, task = key, error = %e, "task_ended hook failed");
        }
        let (status, error) = match &end {
            TaskEnd::Done => (TaskStatus::Done, None),
            TaskEnd::Failed(e) => (TaskStatus::Failed, Some(e.as_str())),
            TaskEnd::Cancelled => (TaskStatus::Cancelled, None),
        };
        tracing::debug!(key = %self.key, task = key, ?status, "task ended");
        self.broadcast_task(key, status, error);
        if self.tasks.is_empty() {
            self.supervisor.do_send(SessionIdle {
                key: self.key.clone(),
            });
        }
    }

    fn broadcast_task(&self, key: &str, status: TaskStatus, error: Option<&str>) {
        let payload = message::to_raw(&TaskPayload {
            task: key,
            status,
            error,
        });
        self.members.broadcast(event::TASK, payload);
    }
}
