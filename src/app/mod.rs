//! The [`App`] trait: what an application plugs into tabhub.
//!
//! An app names its session `State` and its `Event` type, and handles one
//! event at a time. The session computes the RFC 6902 delta between the state
//! before and after, so handlers just mutate `state`. Everything else a
//! handler wants (effects, chains, background tasks) goes through
//! [`Context`]. What `authorize` sees and answers is in `authorize.rs`.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tabhub::{App, AppError, Context};
//!
//! struct Counter;
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct State { count: i64 }
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(tag = "name", content = "payload", rename_all = "snake_case")]
//! enum Event { Add { by: i64 } }
//!
//! impl App for Counter {
//!     type State = State;
//!     type Event = Event;
//!     type Identity = ();
//!     async fn handle(&self, state: &mut State, event: Event, cx: &mut Context<'_, Self>) -> Result<(), AppError> {
//!         match event {
//!             Event::Add { by } if by == 0 => Err(AppError::invalid_payload("by must not be 0")),
//!             Event::Add { by } => {
//!                 state.count += by;
//!                 cx.effect("toast", serde_json::json!({"text": format!("now {}", state.count)}));
//!                 Ok(())
//!             }
//!         }
//!     }
//! }
//! ```

mod authorize;
mod context;
mod decode;
mod error;
mod guard;
mod presence;
mod task;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::ids::SessionKey;
use actix_web::HttpRequest;

pub use authorize::{AuthorizeError, JoinRequest};
pub use context::{Context, Origin, Target};
pub(crate) use context::{EventMeta, Requests, TaskBodyFn};
pub use decode::{decode_tagged, DecodeError};
pub use error::{AppError, AppErrorKind, ConnectRefusal};
pub(crate) use guard::{bounded, guarded, Unfinished};
pub use presence::{Presence, PresenceChange, PresentTab};
#[cfg(feature = "proxy")]
pub(crate) use task::TaskUpdateFn;
pub use task::{TaskEnd, TaskGone, TaskHandle, TaskUpdate};

/// An application served by tabhub: one `State` per session key, changed only
/// by its `Event`s (and by background tasks' updates), one at a time.
///
/// `State` must round-trip through serde: it is saved that way, snapshots are
/// its JSON, and a failed handler's changes are rolled back by restoring the
/// last JSON.
// `async fn` here: a session's futures run on its own single thread, so
// they need not be `Send`, and implementors write plain `async fn`s.
#[allow(async_fn_in_trait)]
pub trait App: Send + Sync + Sized + 'static {
    /// The per-session state. Its JSON is what tabs hold.
    type State: Serialize + DeserializeOwned + Default + Send + Unpin + 'static;
    /// The events tabs submit, decoded from the event object's `name` and
    /// `payload` (see [`App::decode`]). `Serialize` is used to send chained
    /// events back to a tab.
    type Event: Serialize + DeserializeOwned + Send + 'static;
    /// Who is on the other end of a connection, as [`App::connect`] decided
    /// from the HTTP upgrade request (a user id, a session cookie's
    /// subject). `authorize` gets it with every join and handlers through
    /// [`Context::identity`]. Apps without identities use `()`. With
    /// several nodes (docs/scale-out.md) a connection's identity travels
    /// as JSON to the node that owns the session it joins, hence serde.
    type Identity: Clone + Default + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Handles one event. Mutate `state`; the delta is computed for you.
    ///
    /// It may await (a database, an HTTP call): the session still handles
    /// one event at a time, in arrival order, and the next one starts only
    /// when this one has finished. While it awaits, the session's thread
    /// serves other sessions. Do not block in it: await instead, or use
    /// `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    /// Return an [`AppError`] to refuse the event: it becomes the event's
    /// error reply, every change to `state` is rolled back, and nothing the
    /// handler asked of `cx` happens. A handler that panics, or runs past
    /// [`crate::Config::handler_timeout`], fails the same way with
    /// `handler_error`.
    async fn handle(
        &self,
        state: &mut Self::State,
        event: Self::Event,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError>;

    /// Decodes an event from its wire `name` and `payload`. The default
    /// expects `Event` to be an adjacently tagged serde enum
    /// (`#[serde(tag = "name", content = "payload")]`); see [`decode_tagged`].
    ///
    /// # Errors
    /// [`DecodeError::UnknownEvent`] for a name the app does not know (reply
    /// `unknown_event`), [`DecodeError::InvalidPayload`] otherwise.
    fn decode(&self, name: &str, payload: Value) -> Result<Self::Event, DecodeError> {
        decode_tagged(name, payload)
    }

    /// Decides who a connection is, from its WebSocket upgrade request
    /// (headers, cookies, peer address, query, and the extensions actix
    /// middleware set, e.g. actix-session or actix-identity), before the
    /// upgrade. It may await. Default: `Identity::default()` for everyone.
    ///
    /// # Errors
    /// A [`ConnectRefusal`]: the upgrade is answered with HTTP 401
    /// (`Unauthenticated`) or 403 (`Forbidden`) and never becomes a
    /// WebSocket. A connect hook that panics or runs past
    /// [`crate::Config::handler_timeout`] gets HTTP 503.
    async fn connect(&self, request: &HttpRequest) -> Result<Self::Identity, ConnectRefusal> {
        let _ = request;
        Ok(Self::Identity::default())
    }

    /// Authorizes a join. Runs on every join: first joins, rejoins and
    /// takeovers, so a reconnect is re-authorized. It runs on the joining
    /// connection's side before the join reaches the supervisor, and may
    /// await (a database lookup, say): a slow answer delays only the join it
    /// decides. Do not block in it. Default: allow.
    ///
    /// # Errors
    /// An [`AuthorizeError`], which says whether the answer is final:
    /// [`AuthorizeError::Refused`] (the client gets reason `unauthorized`
    /// and does not retry) or [`AuthorizeError::Unavailable`] (the app
    /// could not decide now, say its database is down: the client gets
    /// `unavailable` and retries with backoff). The message is for the
    /// log only. A hook that panics or runs past
    /// [`crate::Config::handler_timeout`] decided nothing either: the
    /// client gets `unavailable`.
    async fn authorize(
        &self,
        join: &JoinRequest<'_, Self::Identity>,
    ) -> Result<(), AuthorizeError> {
        let _ = join;
        Ok(())
    }

    /// The state of a key that has never been seen (not in the store). It
    /// may await; joins of the key wait for it. Default: `State::default()`.
    ///
    /// # Errors
    /// An [`AppError`] fails the session's load: the joins waiting for it
    /// get `store_error` (and the error is logged); the next join asks
    /// again. A hook that panics or runs past
    /// [`crate::Config::handler_timeout`] fails the same way.
    async fn initial_state(&self, key: &SessionKey) -> Result<Self::State, AppError> {
        let _ = key;
        Ok(Self::State::default())
    }

    /// A background task ended (done, failed or cancelled). Runs in the
    /// session's queue like an event; its changes become a delta with
    /// `event_id: null`. Default: nothing.
    fn task_ended(
        &self,
        state: &mut Self::State,
        task: &str,
        end: &TaskEnd,
        cx: &mut Context<'_, Self>,
    ) {
        let _ = (state, task, end, cx);
    }

    /// Restarts a restartable task (see [`Context::spawn_restartable`])
    /// that was running when the session was last saved, typically after a
    /// restart or a crash: call `cx.spawn_restartable` again, resuming from
    /// what `state` says. Runs in the session's queue when it loads, and may
    /// await like [`App::handle`].
    ///
    /// # Errors
    /// Default: refuses (the app has no restart logic). A refusal ends the
    /// task as failed: [`App::task_ended`] runs with [`TaskEnd::Failed`].
    async fn restart_task(
        &self,
        state: &mut Self::State,
        key: &str,
        input: Value,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let _ = (state, input, cx);
        Err(AppError::handler(format!(
            "the app does not restart task {key:?}"
        )))
    }

    /// Server code pushed an update of the running task `task` of session
    /// `key` ([`crate::SessionHandle::update_task`], the server API's
    /// `POST .../state` with `"task"`), before it is applied. Lets an app
    /// whose tasks run elsewhere see that they are alive. Default: nothing.
    fn task_pushed(&self, key: &SessionKey, task: &str) {
        let _ = (key, task);
    }

    /// Whether the presence hooks ([`App::presence_changed`], and through
    /// it [`App::tab_joined`], [`App::tab_left`], [`App::tab_visibility`])
    /// run. Asked once per change, before any
    /// work: an app that says `false` (the default) pays nothing for
    /// presence, and its joins make no delta.
    fn tracks_presence(&self) -> bool {
        false
    }

    /// A tab new to the session joined (see [`Presence`]). Runs in the
    /// session's queue like an event, right after the join's reply, only
    /// if [`App::tracks_presence`]: what it changes in `state` is one delta
    /// with `event_id: null` that every tab gets (the joining one too),
    /// journaled and saved like an event's. Effects for
    /// [`Target::Origin`] go to the joining tab. It may await like
    /// [`App::handle`]. Default: nothing.
    ///
    /// # Errors
    /// An [`AppError`] (or a panic, or running past
    /// [`crate::Config::handler_timeout`]) rolls back what it changed and
    /// is logged; the join itself stands.
    async fn tab_joined(
        &self,
        state: &mut Self::State,
        presence: &Presence<Self::Identity>,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let _ = (state, presence, cx);
        Ok(())
    }

    /// A tab left the session; as [`App::tab_joined`] otherwise, except that
    /// effects for [`Target::Origin`] go to every tab still joined.
    /// Default: nothing.
    ///
    /// # Errors
    /// As [`App::tab_joined`].
    async fn tab_left(
        &self,
        state: &mut Self::State,
        presence: &Presence<Self::Identity>,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let _ = (state, presence, cx);
        Ok(())
    }

    /// A joined tab was shown or hidden; as [`App::tab_joined`] otherwise.
    /// Default: nothing.
    ///
    /// # Errors
    /// As [`App::tab_joined`].
    async fn tab_visibility(
        &self,
        state: &mut Self::State,
        presence: &Presence<Self::Identity>,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let _ = (state, presence, cx);
        Ok(())
    }

    /// Any presence change (see [`Presence`]), only if
    /// [`App::tracks_presence`]. The default hands it to [`App::tab_joined`],
    /// [`App::tab_left`] or [`App::tab_visibility`]; an app that keeps the
    /// whole list (`presence.tabs`) overrides this one instead of the three.
    ///
    /// # Errors
    /// As [`App::tab_joined`].
    async fn presence_changed(
        &self,
        state: &mut Self::State,
        presence: &Presence<Self::Identity>,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        match presence.change {
            PresenceChange::Joined => self.tab_joined(state, presence, cx).await,
            PresenceChange::Left => self.tab_left(state, presence, cx).await,
            PresenceChange::Visibility => self.tab_visibility(state, presence, cx).await,
        }
    }

    /// The session's last tab left (the grace timer starts). Default: nothing.
    fn last_tab_left(&self, key: &SessionKey, state: &Self::State) {
        let _ = (key, state);
    }

    /// The session is being saved and stopped: free what the app holds for
    /// it. Default: nothing.
    fn session_stopping(&self, key: &SessionKey, state: &Self::State) {
        let _ = (key, state);
    }

    /// The app's own metrics, in Prometheus' text format, appended to what
    /// `GET /metrics` serves (and [`crate::Hub::metrics_text`] returns).
    /// Names must not collide with tabhub's (`tabhub_` plus docs/metrics.md's
    /// list); the app proxy's start with `tabhub_backend_`. Called at each
    /// scrape; never without the crate feature `metrics`. Default: none.
    fn metrics_text(&self) -> String {
        String::new()
    }
}
