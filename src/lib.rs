//! # tabhub
//!
//! Many browser tabs, and reconnecting clients, share one server-side
//! session without losing state. A session is keyed by a stable key (the
//! browser's client token, or an app's thread id), not by a socket: a
//! dropped socket, a duplicated tab or a reload resumes the same session,
//! its locks, background tasks and chains, from its cursor.
//!
//! The wire is Phoenix Channels V2 JSON framing (so phoenix.js and other
//! Phoenix clients work unchanged) with tabhub's topics, events and
//! payloads on top; see `PROTOCOL.md` and the README.
//!
//! ## Layout
//!
//! - [`config`]: [`Config`], every limit and timeout, typed.
//! - [`ids`]: validated identifiers ([`SessionKey`], [`TabId`], [`Epoch`]).
//! - [`protocol`]: frames, messages and close codes of the wire.
//! - [`app`]: the [`App`] trait apps implement, and its [`Context`].
//! - `session/`: the `SessionActor`, one per live key: queue, apply,
//!   delta, journal, fan-out, chains, tasks, summary joins, and the outbox
//!   that holds what it sends until the step behind it is durable.
//! - `tab/`: the `TabActor`, one per WebSocket: frames, heartbeat, joins,
//!   bounded outbound buffer.
//! - `supervisor/`: registry, election, takeover, grace, save-and-stop.
//! - [`store`]: the [`Store`] trait, [`MemoryStore`], [`RedbStore`] (durable,
//!   on disk) and the group-commit thread.
//! - [`service`]: [`Hub`], which mounts everything on an actix-web `App`.
//! - [`delta`]: computing a delta (RFC 6902 diff of the state's JSON).
//! - [`demo`]: the demo app the `tabhub` binary serves.
//! - [`cli`]: the binary's flags.
//!
//! The hot path, one event: socket -> `TabActor` -> `SessionActor` (apply,
//! diff, journal) -> [with a durable store: its step to the committer, and
//! the deliveries held until the commit] -> every joined `TabActor` ->
//! sockets. The supervisor is only on the join/leave path.
//!
//! ## Glossary
//!
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
//! - **step**: what one handled message changed; with a durable store,
//!   nothing a step sends is visible before the step is on disk.

pub mod app;
pub mod cli;
pub mod config;
pub mod delta;
pub mod demo;
pub mod ids;
mod messages;
pub mod protocol;
pub mod service;
mod session;
pub mod store;
mod supervisor;
mod tab;

pub use app::{
    App, AppError, Context, JoinRequest, Origin, Target, TaskEnd, TaskGone, TaskHandle, TaskUpdate,
};
pub use config::Config;
pub use ids::{Epoch, SessionKey, TabId};
pub use protocol::reply::Outcome;
pub use protocol::Reason;
pub use service::Hub;
pub use store::{
    MemoryStore, RedbOptions, RedbStore, SavedChain, SavedDelta, SavedSession, SavedTask, Step,
    Store, StoreError,
};
pub use supervisor::HubStats;
