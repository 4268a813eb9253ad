//! [`Context`]: what a handler may ask of its session besides changing state.
//!
//! Requests are collected while the handler runs and carried out only if it
//! returns `Ok`, after the delta is sent; a failed handler leaves no trace.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde_json::Value;

use super::{App, AppError, TaskHandle};
use crate::ids::{SessionKey, TabId};

/// Who caused the code that is running now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An event submitted by this tab (or a chain it re-submitted).
    Tab(TabId),
    /// An update or the end of this background task.
    Task(String),
    /// Server code, through a session handle (`Hub::session`).
    Server,
}

/// Which tabs an effect goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The tab whose event is being handled; for task updates and server
    /// code, all tabs.
    Origin,
    /// Every tab joined to the session.
    All,
    /// One tab, if joined.
    Tab(TabId),
}

/// A boxed task body, as collected by [`Context::spawn_task`].
pub(crate) type TaskBodyFn<A> =
    Box<dyn FnOnce(TaskHandle<A>) -> Pin<Box<dyn Future<Output = Result<(), AppError>>>>>;

/// An effect requested by a handler.
pub(crate) struct EffectRequest {
    pub(crate) target: Target,
    pub(crate) kind: String,
    pub(crate) data: Value,
}

/// Work a handler started that ends with a change of state, applied as
/// its own step (origin `Server`, `event_id: null`) when it resolves, if
/// the session is still running; `None` changes nothing. The session's
/// queue does not wait for it. It starts only once the step that asked
/// for it is durable (never, if the store fails first), so what it tells
/// the world outside never runs ahead of the store.
pub(crate) type FollowUp<A> = Pin<Box<dyn Future<Output = Option<super::task::TaskUpdateFn<A>>>>>;

/// Everything a handler asked for, in the order it asked.
pub(crate) struct Requests<A: App> {
    pub(crate) effects: Vec<EffectRequest>,
    pub(crate) chains: Vec<(String, Value)>,
    /// Task starts: key, body, and (for restartable tasks) the input.
    pub(crate) spawns: Vec<(String, TaskBodyFn<A>, Option<Value>)>,
    pub(crate) cancels: Vec<String>,
    /// The last summary set, if any.
    pub(crate) summary: Option<Value>,
    /// The handler's result value for the ok reply, if it gave one.
    pub(crate) reply: Option<Value>,
    /// Work whose result changes state later (see [`FollowUp`]).
    pub(crate) follow_ups: Vec<FollowUp<A>>,
    /// The change the code stated ([`Context::changed`]), if it did.
    pub(crate) stated: Option<json_patch::Patch>,
}

/// The event being handled: its id and, for a re-submitted chain, the
/// chain's id.
#[derive(Clone, Debug, Default)]
pub(crate) struct EventMeta {
    pub(crate) id: String,
    pub(crate) chain: Option<String>,
}

/// The handler's view of its session (besides `state`): effects, chains and
/// background tasks. See the module docs for when requests take effect.
pub struct Context<'a, A: App> {
    key: &'a SessionKey,
    origin: Origin,
    identity: Option<&'a A::Identity>,
    is_running: &'a dyn Fn(&str) -> bool,
    seq: u64,
    event: Option<EventMeta>,
    max_state_bytes: usize,
    requests: Requests<A>,
}

impl<'a, A: App> Context<'a, A> {
    pub(crate) fn new(
        key: &'a SessionKey,
        origin: Origin,
        identity: Option<&'a A::Identity>,
        is_running: &'a dyn Fn(&str) -> bool,
    ) -> Self {
        Self {
            key,
            origin,
            identity,
            is_running,
            seq: 0,
            event: None,
            max_state_bytes: usize::MAX,
            requests: Requests {
                effects: Vec::new(),
                chains: Vec::new(),
                spawns: Vec::new(),
                cancels: Vec::new(),
                summary: None,
                reply: None,
                follow_ups: Vec::new(),
                stated: None,
            },
        }
    }

    /// Sets the seq the code runs at and the event it handles, if any.
    pub(crate) fn at(mut self, seq: u64, event: Option<EventMeta>) -> Self {
        self.seq = seq;
        self.event = event;
        self
    }

    /// Asks the session to apply what `work` resolves to as a step of its
    /// own, later; see [`FollowUp`].
    // Only the app proxy (feature `proxy`) asks for follow-up work.
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    pub(crate) fn follow_up(&mut self, work: FollowUp<A>) {
        self.requests.follow_ups.push(work);
    }

    pub(crate) fn into_requests(self) -> Requests<A> {
        self.requests
    }

    /// The session's key.
    pub fn key(&self) -> &SessionKey {
        self.key
    }

    /// Sets the session's state bound (`--max-state-bytes`).
    pub(crate) fn bounded(mut self, max_state_bytes: usize) -> Self {
        self.max_state_bytes = max_state_bytes;
        self
    }

    /// The most the session's state may take as compact JSON, in bytes
    /// (`--max-state-bytes`): a change past it fails with `handler_error`.
    /// Code that applies a patch it did not write (the app proxy) checks
    /// against it as it applies ([`crate::StateChange::apply_within`]).
    pub fn max_state_bytes(&self) -> usize {
        self.max_state_bytes
    }

    /// The session's seq before this code runs: the state it sees is the
    /// state at this seq.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The id of the event being handled (as its tab, or server code,
    /// submitted it; unique among the session's recent events); `None`
    /// for a background task's update or end and for start-up hooks.
    pub fn event_id(&self) -> Option<&str> {
        self.event.as_ref().map(|e| e.id.as_str())
    }

    /// The chain id, when the event being handled is a chained event a tab
    /// re-submitted; a chain is handled at most once (docs/protocol.md
    /// section 10 (chains)).
    pub fn chain_id(&self) -> Option<&str> {
        self.event.as_ref().and_then(|e| e.chain.as_deref())
    }

    /// Who caused this call.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The tab that submitted the event being handled (`None` for a
    /// background task's update or end).
    pub fn tab(&self) -> Option<&TabId> {
        match &self.origin {
            Origin::Tab(tab) => Some(tab),
            Origin::Task(_) | Origin::Server => None,
        }
    }

    /// The identity of the submitting tab's connection, as
    /// [`App::connect`] decided (`None` for a background task's update or
    /// end, and for a session's start-up hooks).
    pub fn identity(&self) -> Option<&A::Identity> {
        self.identity
    }

    /// Gives the event's ok reply a result value: `{"seq", "data"}` (the
    /// last call wins). Only an event's reply carries it; for a task's
    /// update it is ignored. Data that does not serialize is logged and
    /// left out.
    pub fn reply(&mut self, data: impl Serialize) {
        match serde_json::to_value(data) {
            Ok(v) => self.requests.reply = Some(v),
            Err(e) => tracing::warn!(error = %e, "reply data did not serialize"),
        }
    }

    /// States this code's change of the state as an RFC 6902 patch from
    /// the state's JSON at [`Context::seq`] to the JSON of the state the
    /// code leaves; several calls add their operations in order. The
    /// session then sends the patch as stated as the delta, applied to
    /// the state's JSON in place, instead of serializing the whole state
    /// and diffing it: the cost of a change is the change's, not the
    /// state's. A patch whose every operation leaves the state as it was
    /// (a `test`, an `add` or `replace` of an equal value; an empty patch)
    /// makes no delta, as a diff would find none. Code that states nothing
    /// is diffed as before.
    ///
    /// The contract: the patch must turn the state's JSON into what the
    /// state the code leaves serializes to. The event fails with
    /// `handler_error` (rolled back, no delta) when the patch does not
    /// apply (all or nothing), when it grows the state past
    /// `--max-state-bytes`, and, in debug builds (`debug_assertions`),
    /// when the patched JSON differs from the serialized state. Release
    /// builds do not serialize the state to check: a patch that does not
    /// match makes tabs, the journal and the saved state follow the patch
    /// while the typed state holds what the code did, until the next
    /// change that is diffed (its delta carries the difference) or a
    /// rollback or reload (the typed state is then read back from the
    /// patched JSON).
    pub fn changed(&mut self, patch: json_patch::Patch) {
        match &mut self.requests.stated {
            Some(stated) => stated.0.extend(patch.0),
            None => self.requests.stated = Some(patch),
        }
    }

    /// Sends a frontend-only effect `{"kind", "data"}` to the originating tab
    /// (to all tabs when a task is the origin). Not journaled; moves no seq.
    pub fn effect(&mut self, kind: &str, data: impl Serialize) {
        self.effect_to(Target::Origin, kind, data);
    }

    /// Sends an effect to every tab of the session.
    pub fn effect_to_all(&mut self, kind: &str, data: impl Serialize) {
        self.effect_to(Target::All, kind, data);
    }

    /// Sends an effect to the given target. Data that does not serialize is
    /// sent as `null` (and logged).
    pub fn effect_to(&mut self, target: Target, kind: &str, data: impl Serialize) {
        let data = serde_json::to_value(data).unwrap_or_else(|e| {
            tracing::warn!(error = %e, kind, "effect data did not serialize");
            Value::Null
        });
        self.requests.effects.push(EffectRequest {
            target,
            kind: kind.to_owned(),
            data,
        });
    }

    /// Chains `event`: it is sent to one tab (the originating tab if still
    /// joined, else the leader), which re-submits it, possibly with client
    /// data added. It is handled at most once (docs/protocol.md section 10
    /// (chains)).
    ///
    /// # Errors
    /// `handler_error` if the event does not serialize as
    /// `{"name", "payload"}` (an adjacently tagged enum does).
    pub fn chain(&mut self, event: &A::Event) -> Result<(), AppError> {
        let value = serde_json::to_value(event)
            .map_err(|e| AppError::handler(format!("chained event did not serialize: {e}")))?;
        let (Some(Value::String(name)), payload) =
            (value.get("name").cloned(), value.get("payload"))
        else {
            return Err(AppError::handler(
                "chained event must serialize as {\"name\", \"payload\"}",
            ));
        };
        let payload = payload
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        self.requests.chains.push((name, payload));
        Ok(())
    }

    /// Whether a background task with this key is running now.
    pub fn is_task_running(&self, key: &str) -> bool {
        (self.is_running)(key) && !self.requests.cancels.iter().any(|c| c == key)
            || self.requests.spawns.iter().any(|(k, _, _)| k == key)
    }

    /// Starts a background task named `key` that outlives every tab. `body`
    /// gets a [`TaskHandle`] and may change state only through
    /// [`TaskHandle::update`]; when it returns, [`App::task_ended`] runs.
    /// Tabs are told with `task` messages (`running`, then how it ended).
    ///
    /// # Errors
    /// `handler_error` if a task with this key is already running.
    pub fn spawn_task<F, Fut>(&mut self, key: &str, body: F) -> Result<(), AppError>
    where
        F: FnOnce(TaskHandle<A>) -> Fut + 'static,
        Fut: Future<Output = Result<(), AppError>> + 'static,
    {
        self.spawn(key, body, None)
    }

    /// As [`Context::spawn_task`], and restartable: `input` is saved with
    /// the session while the task runs, so after a restart or a crash
    /// [`App::restart_task`] gets it back when the session is loaded again
    /// (on its next join) and can start the task afresh.
    ///
    /// # Errors
    /// `handler_error` if a task with this key is already running or the
    /// input does not serialize.
    pub fn spawn_restartable<F, Fut>(
        &mut self,
        key: &str,
        input: impl Serialize,
        body: F,
    ) -> Result<(), AppError>
    where
        F: FnOnce(TaskHandle<A>) -> Fut + 'static,
        Fut: Future<Output = Result<(), AppError>> + 'static,
    {
        let input = serde_json::to_value(input)
            .map_err(|e| AppError::handler(format!("task input did not serialize: {e}")))?;
        self.spawn(key, body, Some(input))
    }

    fn spawn<F, Fut>(&mut self, key: &str, body: F, input: Option<Value>) -> Result<(), AppError>
    where
        F: FnOnce(TaskHandle<A>) -> Fut + 'static,
        Fut: Future<Output = Result<(), AppError>> + 'static,
    {
        if self.is_task_running(key) {
            return Err(AppError::handler(format!(
                "task {key:?} is already running"
            )));
        }
        self.requests.spawns.push((
            key.to_owned(),
            Box::new(move |handle| Box::pin(body(handle))),
            input,
        ));
        Ok(())
    }

    /// Sets the session's summary: a small JSON value (status, counts,
    /// "needs approval") that summary joins receive whenever it changes
    /// (docs/protocol.md section 5.8 (summary joins)), also while no tab is
    /// joined. It is saved with the session. Data that does not serialize
    /// is logged and ignored.
    pub fn set_summary(&mut self, summary: impl Serialize) {
        match serde_json::to_value(summary) {
            Ok(v) => self.requests.summary = Some(v),
            Err(e) => tracing::warn!(error = %e, "summary did not serialize"),
        }
    }

    /// Cancels the running task `key`, if any; [`App::task_ended`] then runs
    /// with [`super::TaskEnd::Cancelled`].
    pub fn cancel_task(&mut self, key: &str) {
        self.requests.cancels.push(key.to_owned());
    }
}
