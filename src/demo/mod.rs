//! The demo app served by the `tabhub` binary: a shared todo list,
//! background jobs with progress and Cancel, toasts, and a chain counter.
//!
//! State: `{"todos": [{"id", "text", "done"}], "jobs": {KEY: {"progress",
//! "steps", "status"}}, "chain_count": N}`, and with presence
//! ([`Demo::with_presence`], `presence.rs`) `"here": [{"tab", "visible"}]`. Events: `add_todo {text}`,
//! `add_todo_after {text, delay_ms}` (its handler awaits), `toggle_todo {id}`, `remove_todo {id}`, `toast {text}`,
//! `start_job {key, steps, step_ms}`, `chain_demo {n}`, `chain_step {n}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use actix_web::{web, HttpResponse};

use crate::app::{App, AppError, Context, TaskEnd};

const PAGE_HTML: &str = include_str!("../../assets/demo/index.html");
const PAGE_JS: &str = include_str!("../../assets/demo/demo.js");
const PAGE_CSS: &str = include_str!("../../assets/demo/demo.css");

/// Mounts the demo page: `GET /` (HTML), `/demo.js`, `/demo.css`. The page
/// loads the client from `/tabhub.js` (mounted by [`crate::Hub::configure`]).
pub fn page(cfg: &mut web::ServiceConfig) {
    fn asset(
        content_type: &'static str,
        body: &'static str,
    ) -> impl Fn() -> std::future::Ready<HttpResponse> + Clone {
        move || {
            std::future::ready(
                HttpResponse::Ok()
                    .content_type(content_type)
                    .insert_header(("cache-control", "no-cache"))
                    .body(body),
            )
        }
    }
    cfg.route(
        "/",
        web::get().to(asset("text/html; charset=utf-8", PAGE_HTML)),
    )
    .route(
        "/demo.js",
        web::get().to(asset("text/javascript; charset=utf-8", PAGE_JS)),
    )
    .route(
        "/demo.css",
        web::get().to(asset("text/css; charset=utf-8", PAGE_CSS)),
    );
}

mod presence;
mod todos;

pub use presence::Here;

/// The demo app. `Demo::default()` keeps no presence list (its joins make
/// no delta); [`Demo::with_presence`] is what the binary serves.
#[derive(Debug, Default, Clone, Copy)]
pub struct Demo {
    presence: bool,
}

impl Demo {
    /// The demo whose state lists the tabs joined, with their visibility
    /// (`"here"`), kept by the presence hooks.
    pub fn with_presence() -> Self {
        Self { presence: true }
    }
}

/// Longest accepted `step_ms`, so a typo cannot park a task for days.
pub const MAX_STEP_MS: u64 = 60_000;
/// Most accepted `steps` for a job.
pub const MAX_STEPS: u32 = 10_000;

/// One todo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Todo {
    /// A fresh uuid.
    pub id: String,
    /// What to do.
    pub text: String,
    /// Whether it is done.
    pub done: bool,
}

/// A job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Its task runs.
    Running,
    /// Its task finished every step.
    Done,
    /// Its task failed.
    Failed,
    /// A tab cancelled it.
    Cancelled,
}

/// One background job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Steps done so far.
    pub progress: u32,
    /// Steps in all.
    pub steps: u32,
    /// Where it stands.
    pub status: JobStatus,
}

/// The demo's session state.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoState {
    /// The todo list, in insertion order.
    pub todos: Vec<Todo>,
    /// Jobs by key.
    pub jobs: BTreeMap<String, Job>,
    /// How many `chain_step`s were handled.
    pub chain_count: u64,
    /// The tabs joined now, in join order, with their visibility (only
    /// with presence; absent from the JSON while empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub here: Vec<Here>,
}

/// The demo's events (wire name = snake_case variant name).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
pub enum DemoEvent {
    /// Append a todo; empty text is `invalid_payload`, over 100,000 chars the
    /// app's own reason `too_long` (data `{"max": 100000}`).
    AddTodo {
        /// The todo's text.
        text: String,
    },
    /// Append a todo after awaiting `delay_ms` (at most 5,000): a handler
    /// that awaits, as one calling a database or an HTTP service would. Its
    /// ok reply's data is `{"id"}` of the new todo.
    AddTodoAfter {
        /// The todo's text.
        text: String,
        /// How long the handler awaits first, in ms.
        delay_ms: u64,
    },
    /// Flip a todo's `done`; an unknown id is `handler_error`.
    ToggleTodo {
        /// The todo's id.
        id: String,
    },
    /// Remove a todo; an unknown id is `handler_error`.
    RemoveTodo {
        /// The todo's id.
        id: String,
    },
    /// Effect `toast {text}` to the originating tab only.
    Toast {
        /// The toast's text.
        text: String,
    },
    /// Start background task `key`: `steps` steps of `step_ms` ms each.
    StartJob {
        /// The job's key (also the task's key).
        key: String,
        /// Number of steps, 1..=10,000.
        steps: u32,
        /// Milliseconds per step, at most 60,000.
        step_ms: u64,
    },
    /// Chain `chain_step {n}` (n >= 1).
    ChainDemo {
        /// How many steps the chain has.
        n: u32,
    },
    /// Add 1 to `chain_count`; if n > 1, chain `chain_step {n - 1}`.
    ChainStep {
        /// Steps left, this one included.
        n: u32,
    },
}

/// What a job's task needs to be restarted after a restart or a crash.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct JobInput {
    steps: u32,
    step_ms: u64,
}

/// Runs job `key` as a restartable task from step `from` + 1: every
/// `step_ms` ms it sets `progress` through the session's queue.
fn spawn_job(
    cx: &mut Context<'_, Demo>,
    key: &str,
    input: JobInput,
    from: u32,
) -> Result<(), AppError> {
    let JobInput { steps, step_ms } = input;
    cx.spawn_restartable(key, input, move |task| async move {
        for i in from + 1..=steps {
            actix_rt::time::sleep(Duration::from_millis(step_ms)).await;
            let key = task.key().to_owned();
            task.update(move |state: &mut DemoState, _cx| {
                if let Some(job) = state.jobs.get_mut(&key) {
                    job.progress = i;
                }
                Ok(())
            })
            .await??;
        }
        Ok(())
    })
}

/// The demo's summary: what a page showing many sessions needs of each:
/// `{"todos", "open", "jobs_running"}` (counts). Summary joins get it;
/// see docs/protocol.md section 5.8 (summary joins).
pub fn summary(state: &DemoState) -> serde_json::Value {
    json!({
        "todos": state.todos.len(),
        "open": state.todos.iter().filter(|t| !t.done).count(),
        "jobs_running": state.jobs.values().filter(|j| j.status == JobStatus::Running).count(),
    })
}

/// Longest `add_todo_after` delay, ms.
const MAX_DELAY_MS: u64 = 5_000;

impl App for Demo {
    type State = DemoState;
    type Event = DemoEvent;
    type Identity = ();

    async fn handle(
        &self,
        state: &mut DemoState,
        event: DemoEvent,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        match event {
            DemoEvent::AddTodoAfter { text, delay_ms } => {
                if delay_ms > MAX_DELAY_MS {
                    return Err(AppError::invalid_payload(format!(
                        "delay_ms must be at most {MAX_DELAY_MS}"
                    )));
                }
                // Stands for a backend call (a database write, a spell
                // checker): the session's next event waits its turn, other
                // sessions go on.
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                // Its reply carries the new todo's id: `{"seq", "data": {"id"}}`.
                let id = todos::add(state, text, cx)?;
                cx.reply(json!({ "id": id }));
            }
            DemoEvent::AddTodo { text } => {
                todos::add(state, text, cx)?;
            }
            DemoEvent::ToggleTodo { id } => todos::toggle(state, &id, cx)?,
            DemoEvent::RemoveTodo { id } => todos::remove(state, &id, cx)?,
            DemoEvent::Toast { text } => cx.effect("toast", json!({ "text": text })),
            DemoEvent::StartJob {
                key,
                steps,
                step_ms,
            } => {
                if key.is_empty() || !(1..=MAX_STEPS).contains(&steps) || step_ms > MAX_STEP_MS {
                    return Err(AppError::invalid_payload(format!(
                        "need a non-empty key, 1..={MAX_STEPS} steps and at most {MAX_STEP_MS} step_ms"
                    )));
                }
                state.jobs.insert(
                    key.clone(),
                    Job {
                        progress: 0,
                        steps,
                        status: JobStatus::Running,
                    },
                );
                spawn_job(cx, &key, JobInput { steps, step_ms }, 0)?;
            }
            DemoEvent::ChainDemo { n } => {
                if n == 0 {
                    return Err(AppError::invalid_payload("n must be at least 1"));
                }
                cx.chain(&DemoEvent::ChainStep { n })?;
            }
            DemoEvent::ChainStep { n } => {
                state.chain_count += 1;
                if n > 1 {
                    cx.chain(&DemoEvent::ChainStep { n: n - 1 })?;
                }
            }
        }
        cx.set_summary(summary(state));
        Ok(())
    }

    /// A job that was running when the service stopped or crashed goes on
    /// from its last recorded progress.
    async fn restart_task(
        &self,
        state: &mut DemoState,
        key: &str,
        input: serde_json::Value,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let input: JobInput = serde_json::from_value(input)
            .map_err(|e| AppError::handler(format!("job {key:?} has no valid input: {e}")))?;
        let from = match state.jobs.get(key) {
            Some(job) if job.status == JobStatus::Running => job.progress,
            _ => return Err(AppError::handler(format!("job {key:?} is not running"))),
        };
        spawn_job(cx, key, input, from)
    }

    fn task_ended(
        &self,
        state: &mut DemoState,
        task: &str,
        end: &TaskEnd,
        cx: &mut Context<'_, Self>,
    ) {
        if let Some(job) = state.jobs.get_mut(task) {
            job.status = match end {
                TaskEnd::Done => JobStatus::Done,
                TaskEnd::Failed(_) => JobStatus::Failed,
                TaskEnd::Cancelled => JobStatus::Cancelled,
            };
        }
        cx.set_summary(summary(state));
    }

    fn tracks_presence(&self) -> bool {
        self.presence
    }

    /// Keeps `here`, the whole list, whatever the change.
    async fn presence_changed(
        &self,
        state: &mut DemoState,
        presence: &crate::app::Presence<()>,
        _cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        presence::keep(state, presence);
        Ok(())
    }
}
