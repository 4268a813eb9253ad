//! A [`SessionHandle`]'s calls across nodes (docs/scale-out.md, "Server
//! code across nodes"): with a store shared by several nodes, each call
//! first asks this node's router where the session is
//! ([`crate::cluster::Locate`], which claims it if no node owns it). If
//! another node owns it, the call goes there as a [`Call`] and runs on a
//! handle of the owner's own; its result, or its [`HandleError`], comes
//! back as JSON. So the server API and `Hub::session` work on any node,
//! and an app proxy's backend calls for a session are made by its owner
//! only.

use std::sync::Arc;

use actix::Addr;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::handle_error::HandleError;
use super::SessionHandle;
use crate::app::{App, Target, TaskEnd};
use crate::cluster::{CallAnswer, CallLost, CallOwner, Locate, Node, RunCall};
use crate::ids::SessionKey;
use crate::session::Push;
use crate::supervisor::Supervisor;

/// A session handle's call, as it crosses nodes; one per public method
/// that reaches the session.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Call {
    /// `submit`, with the app's event as serde makes it.
    Submit {
        id: String,
        event: Value,
    },
    SubmitNamed {
        id: String,
        name: String,
        payload: Value,
    },
    State,
    /// `push` (no task) or `update_task`.
    Push {
        task: Option<String>,
        push: Push,
    },
    EndTask {
        task: String,
        end: TaskEnd,
        push: Push,
    },
    Effect {
        target: Target,
        kind: String,
        data: Value,
    },
    CancelTask {
        task: String,
    },
    Tabs,
    /// `stop` or `delete`.
    Retire {
        delete: bool,
    },
}

/// The node that owns a handle's session, when it is not this one.
pub(super) struct Elsewhere {
    node: Addr<Node>,
    owner: Arc<str>,
    key: SessionKey,
}

impl<A: App> SessionHandle<A> {
    /// Where the call runs: `None` here (one node, or this node owns the
    /// session or has just claimed it), else on its owner.
    pub(super) async fn elsewhere(&self) -> Result<Option<Elsewhere>, HandleError> {
        let Some(node) = &self.node else {
            return Ok(None);
        };
        let locate = Locate {
            key: self.key.clone(),
        };
        let owner = node
            .send(locate)
            .await
            .map_err(|_| HandleError::ShuttingDown)?
            .map_err(|why| HandleError::Failed(format!("who owns the session: {why}")))?;
        Ok(owner.map(|owner| Elsewhere {
            node: node.clone(),
            owner,
            key: self.key.clone(),
        }))
    }
}

impl Elsewhere {
    /// Runs `call` on the owner and reads its answer as `T`.
    ///
    /// # Errors
    /// The owner's [`HandleError`]; [`HandleError::SessionGone`] when the
    /// owner was lost before it answered (calling again reaches the next
    /// owner); [`HandleError::Failed`] when the answer does not decode.
    pub(super) async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T, HandleError> {
        let call = serde_json::to_value(call)
            .map_err(|e| HandleError::Failed(format!("the call does not serialize: {e}")))?;
        let asking = CallOwner {
            owner: self.owner.clone(),
            key: self.key.clone(),
            call,
        };
        let answer = self
            .node
            .send(asking)
            .await
            .map_err(|_| HandleError::ShuttingDown)?
            .map_err(|CallLost| HandleError::SessionGone)?;
        let decode_failed =
            |e: serde_json::Error| HandleError::Failed(format!("the owner's answer: {e}"));
        match answer {
            Ok(value) => serde_json::from_value(value).map_err(decode_failed),
            Err(error) => Err(serde_json::from_value(error).unwrap_or_else(decode_failed)),
        }
    }
}

/// Runs other nodes' calls on a handle of this node's own, which does not
/// forward them again: the caller found this node the owner.
pub(super) fn run_here<A: App>(supervisor: Addr<Supervisor<A>>) -> RunCall {
    Arc::new(move |key, call| {
        let handle = SessionHandle {
            supervisor: supervisor.clone(),
            key,
            node: None,
        };
        Box::pin(run(handle, call))
    })
}

async fn run<A: App>(handle: SessionHandle<A>, call: Value) -> CallAnswer {
    let call: Call = serde_json::from_value(call)
        .map_err(|e| error(HandleError::Failed(format!("the call did not decode: {e}"))))?;
    match call {
        Call::Submit { id, event } => {
            let event: A::Event = serde_json::from_value(event).map_err(|e| {
                error(HandleError::Failed(format!(
                    "the event did not decode: {e}"
                )))
            })?;
            answer(handle.submit(&id, event).await)
        }
        Call::SubmitNamed { id, name, payload } => {
            answer(handle.submit_named(&id, &name, payload).await)
        }
        Call::State => answer(handle.state().await),
        Call::Push { task: None, push } => answer(handle.push(push).await),
        Call::Push {
            task: Some(task),
            push,
        } => answer(handle.update_task(&task, push).await),
        Call::EndTask { task, end, push } => answer(handle.end_task(&task, end, push).await),
        Call::Effect { target, kind, data } => answer(handle.send_effect(target, kind, data).await),
        Call::CancelTask { task } => answer(handle.cancel_task(&task).await),
        Call::Tabs => answer(handle.tabs().await),
        Call::Retire { delete } => answer(handle.retire(delete).await),
    }
}

fn answer<T: Serialize>(result: Result<T, HandleError>) -> CallAnswer {
    let value = result.map_err(error)?;
    serde_json::to_value(value).map_err(|e| {
        error(HandleError::Failed(format!(
            "the answer does not serialize: {e}"
        )))
    })
}

fn error(e: HandleError) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}
