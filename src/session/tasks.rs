//! Background tasks of a session: they outlive every tab, change state only
//! through the session's queue, and can be cancelled from any tab.
//!
//! Field written here: `tasks`.

use std::collections::HashMap;

use actix::{ActorFutureExt, AsyncContext, SpawnHandle, WrapFuture};

use super::{Ctx, SessionActor};
use crate::app::{App, AppError, Origin, TaskEnd, TaskHandle};
use crate::messages::SessionIdle;
use crate::protocol::event;
use crate::protocol::message::{self, TaskPayload, TaskStatus};
use crate::store::{SavedTask, Step};

struct Running {
    generation: u64,
    handle: SpawnHandle,
    /// The input of a restartable task (saved with the session).
    input: Option<serde_json::Value>,
}

/// Running tasks by key. A generation number tells a task's updates and end
/// apart from those of an earlier task with the same key.
#[derive(Default)]
pub(super) struct Tasks {
    running: HashMap<String, Running>,
    generations: u64,
    /// Restartable tasks of a loaded session, restarted once it is ready.
    pub(super) to_restart: Vec<SavedTask>,
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

    /// Keys of the running tasks, for code that runs while the session
    /// waits for it.
    pub(super) fn running_keys(&self) -> std::collections::HashSet<String> {
        self.running.keys().cloned().collect()
    }

    /// Restartable tasks running now, as the store keeps them.
    pub(super) fn restartable(&self) -> Vec<SavedTask> {
        let mut tasks: Vec<SavedTask> = self
            .running
            .iter()
            .filter_map(|(key, r)| {
                r.input.clone().map(|input| SavedTask {
                    key: key.clone(),
                    input,
                })
            })
            .collect();
        tasks.sort_by(|a, b| a.key.cmp(&b.key));
        tasks
    }
}

impl<A: App> SessionActor<A> {
    /// Restarts the restartable tasks a loaded session had running, one
    /// after the other, each through [`App::restart_task`] (which may
    /// await) and settled in a step of its own; a refusal ends the task as
    /// failed.
    pub(super) fn restart_tasks(&mut self, mut saved: Vec<SavedTask>, ctx: &mut Ctx<A>) {
        if saved.is_empty() {
            return;
        }
        let task = saved.remove(0);
        let key = task.key.clone();
        let origin = Origin::Task(key.clone());
        let lent = self.lend(origin.clone(), None);
        let span = lent.span.clone();
        let restarting: super::apply::Running<A> = Box::pin(tracing::Instrument::instrument(
            async move {
                let super::apply::Lent {
                    app,
                    key: session_key,
                    origin,
                    running,
                    mut state,
                    limit,
                    seq,
                    ..
                } = lent;
                let is_running = |t: &str| running.contains(t);
                let mut cx =
                    crate::app::Context::new(&session_key, origin, None, &is_running).at(seq, None);
                let restart = app.restart_task(&mut state, &task.key, task.input, &mut cx);
                let result = crate::app::guarded("restart_task hook", limit, restart).await;
                super::apply::Handled {
                    state,
                    requests: cx.into_requests(),
                    result,
                }
            },
            span,
        ));
        self.after(restarting, ctx, move |session, handled, ctx| {
            session.step(ctx, |session, step, ctx| {
                if let Err(e) = session.settle(step, handled, &origin, None, ctx) {
                    tracing::warn!(key = %session.key, task = key, error = %e, "task not restarted");
                    session.end_task(step, &key, TaskEnd::Failed(e.message), true, ctx);
                } else {
                    tracing::info!(key = %session.key, task = key, "task restarted");
                }
            });
            session.restart_tasks(saved, ctx);
        });
    }

    /// Starts a task body on this session's thread and tells every tab.
    pub(super) fn start_task(
        &mut self,
        step: &mut Step,
        key: String,
        body: crate::app::TaskBodyFn<A>,
        input: Option<serde_json::Value>,
        ctx: &mut Ctx<A>,
    ) {
        if self.tasks.is_running(&key) {
            tracing::warn!(key = %self.key, task = key, "task already running; not started again");
            return;
        }
        self.tasks.generations += 1;
        let generation = self.tasks.generations;
        let handle = TaskHandle {
            session: ctx.address().recipient(),
            key: key.clone(),
            generation,
        };
        let finished_key = key.clone();
        // The body runs in the session's span: its logs name the session.
        let body = tracing::Instrument::instrument(body(handle), self.control.span.clone());
        let spawn = ctx.spawn(body.into_actor(self).map(move |result, act, ctx| {
            act.task_finished(&finished_key, generation, result, ctx);
        }));
        if let Some(input) = input.clone() {
            step.tasks_started.push(SavedTask {
                key: key.clone(),
                input,
            });
        }
        self.tasks.running.insert(
            key.clone(),
            Running {
                generation,
                handle: spawn,
                input,
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
        let restartable = self
            .tasks
            .running
            .remove(key)
            .is_some_and(|r| r.input.is_some());
        let end = match result {
            Ok(()) => TaskEnd::Done,
            Err(e) => TaskEnd::Failed(e.message),
        };
        self.step(ctx, |session, step, ctx| {
            session.end_task(step, key, end, restartable, ctx);
        });
    }

    /// Cancels a running task; returns whether one was running.
    pub(super) fn cancel_task(&mut self, step: &mut Step, key: &str, ctx: &mut Ctx<A>) -> bool {
        self.stop_task(step, key, TaskEnd::Cancelled, ctx)
    }

    /// Ends a running task from outside its body, as `end` (its body is
    /// dropped where it stands); returns whether one was running.
    pub(super) fn stop_task(
        &mut self,
        step: &mut Step,
        key: &str,
        end: TaskEnd,
        ctx: &mut Ctx<A>,
    ) -> bool {
        let Some(running) = self.tasks.running.remove(key) else {
            return false;
        };
        ctx.cancel_future(running.handle);
        self.end_task(step, key, end, running.input.is_some(), ctx);
        true
    }

    /// Lets the app record the end in state (a delta with `event_id: null`),
    /// tells every tab, and tells the supervisor when no task runs any more.
    fn end_task(
        &mut self,
        step: &mut Step,
        key: &str,
        end: TaskEnd,
        restartable: bool,
        ctx: &mut Ctx<A>,
    ) {
        let result = self.apply(
            step,
            Origin::Task(key.to_owned()),
            None,
            ctx,
            |app, state, cx| {
                app.task_ended(state, key, &end, cx);
                Ok(())
            },
        );
        if let Err(e) = result {
            tracing::warn!(key = %self.key, task = key, error = %e, "task_ended hook failed");
        }
        if restartable {
            step.tasks_ended.push(key.to_owned());
        }
        let (status, error) = match &end {
            TaskEnd::Done => (TaskStatus::Done, None),
            TaskEnd::Failed(e) => (TaskStatus::Failed, Some(e.as_str())),
            TaskEnd::Cancelled => (TaskStatus::Cancelled, None),
        };
        tracing::debug!(key = %self.key, task = key, ?status, "task ended");
        self.broadcast_task(key, status, error);
        if self.tasks.is_empty() {
            self.control.idle.do_send(SessionIdle {
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
        self.broadcast(event::TASK, payload);
    }
}
