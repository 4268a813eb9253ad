//! Background tasks' view of their session: [`TaskHandle`].

use actix::{Message, Recipient};

use super::{App, AppError, Context};

/// How a background task ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskEnd {
    /// Its body returned `Ok`.
    Done,
    /// Its body returned an error, with its message.
    Failed(String),
    /// A tab (or a handler) cancelled it.
    Cancelled,
}

/// The task can no longer change its session: it was cancelled or replaced,
/// or the session stopped. The task should return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskGone;

impl std::fmt::Display for TaskGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the task's session no longer accepts its updates")
    }
}

impl std::error::Error for TaskGone {}

impl From<TaskGone> for AppError {
    fn from(e: TaskGone) -> Self {
        AppError::handler(e.to_string())
    }
}

/// A running background task's link to its session. Cheap to clone.
pub struct TaskHandle<A: App> {
    pub(crate) session: Recipient<TaskUpdate<A>>,
    pub(crate) key: String,
    pub(crate) generation: u64,
}

impl<A: App> Clone for TaskHandle<A> {
    fn clone(&self) -> Self {
        Self {
            session: self.session.clone(),
            key: self.key.clone(),
            generation: self.generation,
        }
    }
}

impl<A: App> TaskHandle<A> {
    /// The task's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Changes state through the session's queue, in order with events: `f`
    /// runs inside the session like a handler, and its changes are sent as a
    /// delta with `event_id: null`. Resolves to the seq after the update.
    ///
    /// # Errors
    /// [`TaskGone`] if the task was cancelled or the session stopped;
    /// `Ok(Err(_))` when `f` itself refused (its changes rolled back).
    pub async fn update<F>(&self, f: F) -> Result<Result<u64, AppError>, TaskGone>
    where
        F: FnOnce(&mut A::State, &mut Context<'_, A>) -> Result<(), AppError> + Send + 'static,
    {
        self.session
            .send(TaskUpdate {
                key: self.key.clone(),
                generation: self.generation,
                apply: Box::new(f),
            })
            .await
            .map_err(|_| TaskGone)?
    }
}

/// A state change from a background task, applied in the session's queue.
pub(crate) type TaskUpdateFn<A> = Box<
    dyn for<'c> FnOnce(&mut <A as App>::State, &mut Context<'c, A>) -> Result<(), AppError> + Send,
>;

/// Sent by a [`TaskHandle`] to its session; replies with the seq after the
/// update, or [`TaskGone`] if that task is no longer running (cancelled,
/// replaced, or its session stopped or failed).
pub struct TaskUpdate<A: App> {
    pub(crate) key: String,
    pub(crate) generation: u64,
    pub(crate) apply: TaskUpdateFn<A>,
}

impl<A: App> Message for TaskUpdate<A> {
    type Result = Result<Result<u64, AppError>, TaskGone>;
}
