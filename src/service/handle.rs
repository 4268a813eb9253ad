//! [`SessionHandle`]: server code (a webhook, a cron job, an HTTP route)
//! reaching a session by key, whether or not a tab is joined. A stopped
//! session is started (it loads itself); with no tab joined it stops again
//! after the grace time. With several nodes, a call for a session another
//! node owns runs there (`remote.rs`).

use actix::Addr;
use serde::Serialize;
use serde_json::Value;

use super::handle_error::HandleError;
use super::remote::Call;
use crate::cluster::Node;

use crate::app::{App, Target, TaskEnd};
use crate::delta::StateChange;
use crate::ids::{SessionKey, TabId};
use crate::protocol::reply::Outcome;
use crate::session::{
    EndTask, NotHandled, Push, PushChange, ReadState, ServerCancel, ServerEffect, ServerEvent,
    ServerSubmit, SessionActor, StateView,
};
use crate::supervisor::{ListTabs, Lookup, Retire, Retired, Supervisor, TabInfo};

/// One session, reached by key from server code; from
/// [`super::Hub::session`]. Cheap to clone.
pub struct SessionHandle<A: App> {
    pub(super) supervisor: Addr<Supervisor<A>>,
    pub(super) key: SessionKey,
    /// This node's router, with a store shared by several nodes.
    pub(super) node: Option<Addr<Node>>,
}

impl<A: App> Clone for SessionHandle<A> {
    fn clone(&self) -> Self {
        Self {
            supervisor: self.supervisor.clone(),
            key: self.key.clone(),
            node: self.node.clone(),
        }
    }
}

impl<A: App> SessionHandle<A> {
    /// The session's key.
    pub fn key(&self) -> &SessionKey {
        &self.key
    }

    async fn session(&self) -> Result<Addr<SessionActor<A>>, HandleError> {
        let lookup = Lookup {
            key: self.key.clone(),
            _app: std::marker::PhantomData,
        };
        Ok(self
            .supervisor
            .send(lookup)
            .await
            .map_err(|_| HandleError::ShuttingDown)??)
    }

    /// Submits `event` through the session's queue, in order with tabs'
    /// events, as a tab would with event id `id`: the outcome is what a tab
    /// would get as its reply (`Outcome::Ok {seq, data}` or the error), and
    /// a repeated id gets the first outcome. Either is answered only once
    /// the step it reports (the first one's, for a repeat) is durable.
    /// Effects the handler sends "to the origin" go to every tab.
    ///
    /// # Errors
    /// [`HandleError`] when the session cannot be reached, stopped before
    /// it answered, or its store failed (the event was not handled).
    pub async fn submit(&self, id: &str, event: A::Event) -> Result<Outcome, HandleError> {
        if let Some(owner) = self.elsewhere().await? {
            let event = serde_json::to_value(&event)
                .map_err(|e| HandleError::Failed(format!("the event does not serialize: {e}")))?;
            let id = id.to_owned();
            return owner.call(Call::Submit { id, event }).await;
        }
        self.submit_event(id, ServerEvent::Typed(event)).await
    }

    /// As [`Self::submit`], with the event by wire `name` and `payload`,
    /// decoded by [`App::decode`] as a tab's would be: an unknown name or
    /// a bad payload is the outcome `unknown_event` or `invalid_payload`.
    ///
    /// # Errors
    /// As [`Self::submit`].
    pub async fn submit_named(
        &self,
        id: &str,
        name: &str,
        payload: serde_json::Value,
    ) -> Result<Outcome, HandleError> {
        if let Some(owner) = self.elsewhere().await? {
            let (id, name) = (id.to_owned(), name.to_owned());
            return owner.call(Call::SubmitNamed { id, name, payload }).await;
        }
        let event = ServerEvent::Named {
            name: name.to_owned(),
            payload,
        };
        self.submit_event(id, event).await
    }

    async fn submit_event(&self, id: &str, event: ServerEvent<A>) -> Result<Outcome, HandleError> {
        let submit = ServerSubmit {
            id: id.to_owned(),
            event,
        };
        match self.session().await?.send(submit).await? {
            Ok(outcome) => Ok(outcome),
            Err(NotHandled::Stopped) => Err(HandleError::SessionGone),
            Err(NotHandled::StoreFailed) => Err(HandleError::Failed(
                "the session's store failed; call again for a fresh session".into(),
            )),
        }
    }

    /// The session's state now, with its seq and epoch: the durable state.
    /// The read waits in the session's queue like an event, and is answered
    /// once every step before it is durable, so it never shows a change a
    /// crash could take back.
    ///
    /// # Errors
    /// [`HandleError`] when the session cannot be reached, its store failed
    /// before the state was durable, or its state does not round-trip
    /// through serde.
    pub async fn state(&self) -> Result<StateView<A::State>, HandleError> {
        if let Some(owner) = self.elsewhere().await? {
            return owner.call(Call::State).await;
        }
        self.session()
            .await?
            .send(ReadState::new())
            .await?
            .map_err(HandleError::Failed)
    }

    /// Applies a change pushed by server code (an RFC 6902 patch to the
    /// state's JSON now, or a whole new state) in the session's queue, in
    /// order with events: one delta with `event_id: null` to every tab.
    /// Returns the seq after it.
    ///
    /// # Errors
    /// [`HandleError::InvalidChange`] when the patch does not apply or the
    /// result is not a valid `State` (nothing changes); otherwise as
    /// [`Self::submit`].
    pub async fn change_state(&self, change: StateChange) -> Result<u64, HandleError> {
        self.push(change.into()).await
    }

    /// Applies `push` (a state change, a new summary, or both) in one step
    /// of the session's queue: as [`Self::change_state`], and summary
    /// joins get the summary.
    ///
    /// # Errors
    /// As [`Self::change_state`].
    pub async fn push(&self, push: Push) -> Result<u64, HandleError> {
        self.send_push(None, push).await
    }

    /// As [`Self::change_state`], as an update of the running background
    /// task `task` (its effects "to the origin" go to every tab).
    ///
    /// # Errors
    /// [`HandleError::TaskGone`] once the task has ended or was cancelled;
    /// otherwise as [`Self::change_state`].
    pub async fn update_task(&self, task: &str, push: impl Into<Push>) -> Result<u64, HandleError> {
        self.send_push(Some(task.to_owned()), push.into()).await
    }

    async fn send_push(&self, task: Option<String>, push: Push) -> Result<u64, HandleError> {
        if let Some(owner) = self.elsewhere().await? {
            return owner.call(Call::Push { task, push }).await;
        }
        let push = PushChange { task, push };
        Ok(self.session().await?.send(push).await??)
    }

    /// Ends the running background task `task` as `end`, decided outside
    /// its body (which is dropped): `push` (a change, a summary, both or
    /// neither: `Push::default()`) is applied as its last update, then
    /// [`App::task_ended`] runs (its changes are a delta of their own) and
    /// tabs get the `task` message, all in one durable step. Returns the
    /// seq after it.
    ///
    /// # Errors
    /// [`HandleError::TaskGone`] if the task is not running;
    /// [`HandleError::InvalidChange`] when the change does not apply (the
    /// task then goes on); otherwise as [`Self::submit`].
    pub async fn end_task(
        &self,
        task: &str,
        end: TaskEnd,
        push: impl Into<Push>,
    ) -> Result<u64, HandleError> {
        let (task, push) = (task.to_owned(), push.into());
        if let Some(owner) = self.elsewhere().await? {
            return owner.call(Call::EndTask { task, end, push }).await;
        }
        let end = EndTask { task, end, push };
        Ok(self.session().await?.send(end).await??)
    }

    /// Sends an effect `{"kind", "data"}` to every joined tab.
    ///
    /// # Errors
    /// [`HandleError`] when the session cannot be reached.
    pub async fn effect_to_all(&self, kind: &str, data: impl Serialize) -> Result<(), HandleError> {
        self.effect(Target::All, kind, data).await
    }

    /// Sends an effect to one tab, if it is joined.
    ///
    /// # Errors
    /// [`HandleError`] when the session cannot be reached.
    pub async fn effect_to(
        &self,
        tab: &TabId,
        kind: &str,
        data: impl Serialize,
    ) -> Result<(), HandleError> {
        self.effect(Target::Tab(tab.clone()), kind, data).await
    }

    async fn effect(
        &self,
        target: Target,
        kind: &str,
        data: impl Serialize,
    ) -> Result<(), HandleError> {
        let data = serde_json::to_value(data).map_err(|e| {
            HandleError::Failed(format!("the effect's data does not serialize: {e}"))
        })?;
        self.send_effect(target, kind.to_owned(), data).await
    }

    pub(super) async fn send_effect(
        &self,
        target: Target,
        kind: String,
        data: Value,
    ) -> Result<(), HandleError> {
        if let Some(owner) = self.elsewhere().await? {
            return owner.call(Call::Effect { target, kind, data }).await;
        }
        let effect = ServerEffect { target, kind, data };
        if self.session().await?.send(effect).await? {
            Ok(())
        } else {
            Err(HandleError::Failed("the session's store failed".into()))
        }
    }

    /// Cancels the background task `task`; `true` if one was running.
    /// Answered once the cancel is durable; only then does the app hear
    /// of it outside the session (the proxy's `URL/cancel`).
    ///
    /// # Errors
    /// [`HandleError`] when the session cannot be reached, or
    /// [`HandleError::Failed`] when its store failed before the cancel was
    /// durable (the task then is as the store has it: running).
    pub async fn cancel_task(&self, task: &str) -> Result<bool, HandleError> {
        if let Some(owner) = self.elsewhere().await? {
            let task = task.to_owned();
            return owner.call(Call::CancelTask { task }).await;
        }
        let cancel = ServerCancel {
            task: task.to_owned(),
        };
        Ok(self.session().await?.send(cancel).await??)
    }

    /// The tabs joined to the session now (none if it is not live; this
    /// does not start it): tab id, visibility, leader, joined since,
    /// identity.
    ///
    /// # Errors
    /// [`HandleError::ShuttingDown`] after the service stopped.
    pub async fn tabs(&self) -> Result<Vec<TabInfo<A::Identity>>, HandleError> {
        if let Some(owner) = self.elsewhere().await? {
            return owner.call(Call::Tabs).await;
        }
        let list = ListTabs {
            key: self.key.clone(),
            _app: std::marker::PhantomData,
        };
        self.supervisor
            .send(list)
            .await
            .map_err(|_| HandleError::ShuttingDown)
    }

    /// Stops the session now, if it is live: its tabs and summary joins
    /// get `phx_error` and rejoin (after every delta the disk has), which
    /// loads it again from the store; running tasks stop (restartable ones
    /// restart at the next load); events already queued are handled
    /// first. Joins and calls arriving meanwhile wait for the stop.
    /// Returns whether a session was live.
    ///
    /// # Errors
    /// [`HandleError::ShuttingDown`], or [`HandleError::Failed`] when the
    /// session could not save itself (it then keeps running).
    pub async fn stop(&self) -> Result<bool, HandleError> {
        Ok(self.retire(false).await?.was_live)
    }

    /// Deletes the session: stops it if it is live (as [`Self::stop`], but
    /// without saving), then deletes everything the store keeps of the
    /// key. Joins and calls arriving meanwhile wait, then find a new
    /// session: the app's initial state in a new epoch (tabs that rejoin
    /// get a `snapshot`). Returns whether the store kept anything.
    ///
    /// # Errors
    /// [`HandleError::ShuttingDown`], or [`HandleError::Failed`] when the
    /// store could not delete the key (nothing of it is then deleted).
    pub async fn delete(&self) -> Result<bool, HandleError> {
        Ok(self.retire(true).await?.deleted)
    }

    pub(super) async fn retire(&self, delete: bool) -> Result<Retired, HandleError> {
        if let Some(owner) = self.elsewhere().await? {
            return owner.call(Call::Retire { delete }).await;
        }
        let retire = Retire {
            key: self.key.clone(),
            delete,
        };
        Ok(self
            .supervisor
            .send(retire)
            .await
            .map_err(|_| HandleError::ShuttingDown)??)
    }
}
