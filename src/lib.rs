//! # tabhub
//!
//! Many browser tabs, and reconnecting clients, share one server-side
//! session without losing state. A session is keyed by a stable key (the
//! browser's client token, or an app's thread id), not by a socket: a
//! dropped socket, a duplicated tab or a reload resumes the same session,
//! its state, background tasks and chains, from its cursor.
//!
//! The wire is Phoenix Channels V2 JSON framing (so phoenix.js and other
//! Phoenix clients work unchanged) with tabhub's topics, events and
//! payloads on top; `docs/protocol.md` describes the wire as implemented.
//!
//! ## Layout
//!
//! Layers, top to bottom; a module uses only the layers below it
//! (`tests/layers.rs` checks this). `docs/architecture.md` has the
//! diagrams.
//!
//! - `cli` (feature `cli`, default): the binary's settings, each a flag, a variable and a key of
//!   the `--config` file, merged by `cli/load.rs` (`cli/backend.rs`: the
//!   app proxy's and the server API's).
//! - [`service`]: [`Hub`], which starts the actors and mounts them on an
//!   actix-web `App`, session handles for server code, the server API a
//!   backend calls ([`Api`], `--api-token`; with its listing of sessions
//!   and read-only admin page), the retention
//!   sweeper (`--session-ttl`), the upgrade's origin check
//!   (`--allowed-origin`), `/healthz` and `/metrics`; `demo` (feature `demo`, default): the demo
//!   app the `tabhub` binary serves; `proxy` (feature `proxy`, default): the app proxy, an app
//!   whose logic is a backend behind an HTTP URL (`--app-url`, any
//!   language; `docs/app-proxy.md`).
//! - `supervisor/`: the control plane, one per service. It decides and
//!   owns what decisions rest on: each session's tabs, visibility,
//!   activity, leader (election), takeovers (fenced by connection age),
//!   caps, grace timers, save-and-stop, stop and delete on request (the
//!   key fenced meanwhile), the summary joins of keys with no live
//!   session, shutdown. It
//!   never runs app code and never waits on the store. Sessions load and
//!   save themselves; the store calls the supervisor starts (listing the
//!   sessions with tasks at start, reading a stopped session's summary,
//!   deleting a key, expiring idle keys, releasing a failed session's
//!   key) run on the blocking pool, and
//!   each answer is handled on the supervisor's thread when it comes, like
//!   a message. It imports `session` to start sessions and address them:
//!   `SessionActor` (its typed address is what the registry keeps, what
//!   `Attach`, `Detach`, `Stop` and the rest are sent to, and what lookups
//!   return), `SessionSetup` (what a session starts with) and
//!   `ControlLink` (the recipients through which a session reports back,
//!   with its metrics and log span).
//! - `session/`: the data plane, one `SessionActor` per live key: it loads
//!   itself, then owns state, queue, delta, journal, recent ids, chains,
//!   tasks, summary and delivery. Its delivery list is a projection of
//!   the supervisor's registry, changed only by the supervisor's messages
//!   (and emptied when the session ends). Its summary joins are its own
//!   while it is live: they move from the supervisor at its start and
//!   back at its grace stop (`messages/watchers.rs`).
//!   Every event (a tab's, a chain's re-submission, server code's) takes
//!   one path (`session/events.rs`). What is on disk and what waits for it
//!   is one value (`session/durable.rs`): what must become durable is
//!   recorded in one scoped step, and its outbox holds what a step sends
//!   until it is durable.
//! - `tab/`: the `TabActor`, one per WebSocket: frames, heartbeat, joins
//!   (the app's authorize awaited beside the connection's other frames),
//!   bounded outbound buffer, and its place among its peer address's
//!   sockets (`--max-conns-per-ip`).
//! - `cluster/`: with a store shared by several nodes (one offering a
//!   [`store::NodeBus`]: Redis, feature `redis`), the
//!   node's router: a join goes to its session's owner, this node's
//!   supervisor or another node's over the store's bus, and so does all
//!   that follows; on the owner, a `Guest` per connection of another node
//!   is a tab like any other. Server code's calls (a `SessionHandle`, the
//!   server API) for a session another node owns are carried there as
//!   JSON and run on the owner's own handle (`service/remote.rs`)
//!   (docs/scale-out.md).
//! - `messages/`: what the three actors send one another (to a tab, to a
//!   session, to the supervisor), a tab's inbox (one wake-up per batch of
//!   deliveries) and the activity stamps the election reads. Below every actor, so neither tabs nor sessions import another
//!   actor; only the supervisor imports `session` (see above).
//!   Messages that only server code, a task or the commit thread send live
//!   beside their handler: `supervisor/` (`Lookup`, `ListTabs`, `Retire`,
//!   `Expire`, `Stats`, `Shutdown`: from the hub, session handles and the
//!   retention sweeper), `session/server.rs` and `session/pushed.rs`
//!   (session handles' calls), `app/task.rs` (`TaskUpdate`, from a task)
//!   and `store/committer.rs` (`Committed`, from the commit thread).
//! - [`app`]: the [`App`] trait apps implement, its [`Context`], tasks.
//! - [`store`]: a store's two parts, the whole-session [`SessionStore`]
//!   (load, save, delete, idle keys) and the durable [`StepLog`] (append
//!   steps, read a key's checkpoint and steps back, trimmed to the
//!   session's journal window); [`MemoryStore`] (a session store),
//!   [`RedbStore`] (feature `redb`: both, on disk), [`store::RedisStore`]
//!   (feature `redis`: both, in a Redis shared by several nodes: one owner
//!   per session through a lease, every write fenced inside Redis;
//!   docs/scale-out.md) and the group-commit thread.
//! - `metrics`: what a hub counts (Prometheus, a registry per hub), for
//!   `GET /metrics`; the actors and the service count through it. Without
//!   the feature `metrics` (default) the same names count nothing.
//! - [`protocol`]: the wire: frames, payloads, replies, [`Reason`], close
//!   codes. Actors build its typed values, never JSON of their own.
//! - `otel` (feature `otel`, in `cli`): spans exported over OTLP/HTTP
//!   (`--otlp-endpoint`) and the W3C trace context on the app proxy's
//!   calls; the spans themselves are opened where their work is.
//! - [`ids`], [`config`], [`delta`]: validated identifiers ([`SessionKey`],
//!   [`TabId`], [`Epoch`]); [`Config`], every limit; the RFC 6902 deltas
//!   (stated by the handler, or diffed: [`delta::settle`]).
//!
//! The hot path, one event: socket -> `TabActor` -> `SessionActor` (apply,
//! the delta, journal) -> [with a durable store: its step to the committer, and
//! the deliveries held until the commit] -> every joined `TabActor` ->
//! sockets. The supervisor is not on it: it sees joins, leaves, visibility
//! changes, and server code's lookups, stops and deletes.
//!
//! ## Glossary
//!
//! - **control plane**: the supervisor: who is joined where, who leads,
//!   when a session stops. It decides, in memory.
//! - **data plane**: the sessions: state, queue, journal, delivery. They
//!   do, and they do the slow work (the store, the app's handlers).
//! - **session**: one state and its event queue, owned by one actor.
//! - **key**: the session's stable name, a bearer secret (22-128 chars).
//! - **tab**: one page instance (`tab_id`) joined over one connection.
//! - **seq**: the number of deltas a session has produced; +1 per delta.
//! - **epoch**: one lifetime of a seq numbering; new epoch = resync.
//! - **cursor**: `(epoch, seq)` of the last state a client holds.
//! - **delta**: an RFC 6902 JSON Patch from seq-1 to seq.
//! - **journal**: the bounded list of recent deltas, for replay.
//! - **snapshot**: the whole state, for a cursor the journal cannot serve.
//! - **effect**: a frontend-only message (toast, redirect), not journaled.
//! - **chain**: an event a tab must re-submit after a client-side step.
//! - **leader** (elected tab): the tab chains go to when their origin left.
//! - **summary join**: a watcher of a session that gets only the app's
//!   summary; not a tab.
//! - **fence**: a key whose session is being stopped on request or which
//!   is being deleted; what arrives for it waits until that is done.
//! - **step**: what one handled message changed; with a durable store,
//!   nothing a step sends is visible before the step is on disk.

pub mod app;
#[cfg(feature = "cli")]
pub mod cli;
mod cluster;
pub mod config;
pub mod delta;
#[cfg(feature = "demo")]
pub mod demo;
pub mod ids;
mod messages;
mod metrics;
#[cfg(feature = "otel")]
pub mod otel;
pub mod protocol;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod service;
mod session;
pub mod store;
mod supervisor;
mod tab;

pub use app::{
    App, AppError, AuthorizeError, ConnectRefusal, Context, JoinRequest, Origin, Presence,
    PresenceChange, PresentTab, Target, TaskEnd, TaskGone, TaskHandle, TaskUpdate,
};
pub use config::Config;
pub use delta::StateChange;
pub use ids::{Epoch, SessionKey, TabId};
pub use protocol::reply::Outcome;
pub use protocol::Reason;
pub use service::{Api, HandleError, Health, Hub, Routes, SessionHandle};
pub use session::{Push, StateView};
pub use store::{
    LoggedSession, MemoryStore, SavedChain, SavedDelta, SavedSession, SavedTask, SessionStore,
    Step, StepLog, Store, StoreCause, StoreError,
};
#[cfg(feature = "redb")]
pub use store::{RedbOptions, RedbStore};
pub use supervisor::{HubStats, TabInfo};
