//! The backend's background tasks as tabhub records them: a task the
//! backend starts (`tasks.start` in an answer) is a restartable task whose
//! body only waits, for the backend to end it (`.../tasks/KEY/end`), a
//! cancel, or silence: with an idle limit (`--app-task-idle-ms`), a task
//! whose backend pushed nothing for it that long fails, so a backend that
//! crashed mid-job does not keep its session alive for ever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Proxy;
use crate::app::{AppError, Context};
use crate::ids::SessionKey;

/// When each running backend task was last heard of, by (session key,
/// task key).
type Heard = Arc<Mutex<HashMap<(String, String), Instant>>>;

/// The backend's running tasks and their idle limit. Clones share them.
#[derive(Clone)]
pub(super) struct RemoteTasks {
    idle: Option<Duration>,
    heard: Heard,
}

/// A task's entry in [`Heard`], removed when its body is dropped (it
/// ended, was cancelled, or its session stopped).
struct Entry {
    heard: Heard,
    id: (String, String),
}

impl Drop for Entry {
    fn drop(&mut self) {
        lock(&self.heard).remove(&self.id);
    }
}

fn lock(heard: &Heard) -> std::sync::MutexGuard<'_, HashMap<(String, String), Instant>> {
    heard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RemoteTasks {
    /// Tasks failed after `idle` without word (`None`: never).
    pub(super) fn new(idle: Option<Duration>) -> Self {
        Self {
            idle,
            heard: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The backend pushed an update of `task`: it is alive.
    pub(super) fn heard(&self, key: &SessionKey, task: &str) {
        let id = (key.as_str().to_owned(), task.to_owned());
        if let Some(at) = lock(&self.heard).get_mut(&id) {
            *at = Instant::now();
        }
    }

    /// Records that the backend runs task `task` (restartable, so a session
    /// loaded after a restart of tabhub has it running again).
    ///
    /// # Errors
    /// `handler_error` if a task of that key runs already.
    pub(super) fn start(&self, cx: &mut Context<'_, Proxy>, task: &str) -> Result<(), AppError> {
        let Some(idle) = self.idle else {
            return cx.spawn_restartable(task, Value::Null, |_| {
                std::future::pending::<Result<(), AppError>>()
            });
        };
        let heard = self.heard.clone();
        let id = (cx.key().as_str().to_owned(), task.to_owned());
        cx.spawn_restartable(task, Value::Null, move |_| async move {
            lock(&heard).insert(id.clone(), Instant::now());
            let entry = Entry { heard, id };
            loop {
                let last = *lock(&entry.heard)
                    .entry(entry.id.clone())
                    .or_insert_with(Instant::now);
                let quiet = last.elapsed();
                if quiet >= idle {
                    return Err(AppError::handler(format!(
                        "no word from the backend for {} ms",
                        idle.as_millis()
                    )));
                }
                tokio::time::sleep(idle - quiet).await;
            }
        })
    }
}
