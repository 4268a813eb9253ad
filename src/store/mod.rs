//! Keeping sessions: a store has two parts with two jobs.
//!
//! - [`SessionStore`], which every store implements: whole sessions
//!   ([`SavedSession`]) loaded when a session starts and saved when it
//!   stops, and the keys' last activity (list idle keys, delete, touch),
//!   for retention.
//! - [`StepLog`], which a durable store implements too and names in
//!   [`SessionStore::step_log`]: every step ([`Step`]) of every session
//!   appended as it happens, many keys per transaction (group commit, on
//!   the commit thread, `committer.rs`), trimmed to the journal window the
//!   session names; a key's checkpoint and deltas ([`LoggedSession`])
//!   rebuild its session ([`LoggedSession::rebuild`], shared by every
//!   log).
//!
//! [`MemoryStore`] is a session store only: it keeps sessions in process
//! memory, so a log of their steps there would survive nothing a whole
//! save at stop does not, and would only delay every delivery until its
//! "commit". [`RedbStore`] is both (redb: embedded, ACID, on disk), and
//! so is [`RedisStore`] (Redis, shared by several nodes: one owner per
//! session through a lease, every write fenced by its token).
//!
//! Every call blocks and runs off the actor threads: on the blocking pool
//! (`blocking`, which also turns a panic into a [`StoreError`]), or on
//! the commit thread. Files: `session_store.rs`, `step_log.rs` (the two
//! traits, the rebuild), `saved.rs`, `step.rs` (what they keep),
//! `error.rs` ([`StoreError`], `blocking`), `memory.rs`, `redb/`,
//! `redis/`, `committer.rs`.

mod bus;
pub(crate) mod committer;
mod error;
mod memory;
#[cfg(feature = "redb")]
mod redb;
#[cfg(feature = "redis")]
mod redis;
mod saved;
mod session_store;
mod step;
mod step_log;

use std::time::{SystemTime, UNIX_EPOCH};

// What the durable stores tabhub ships (redb, Redis) share.
#[cfg(any(feature = "redb", feature = "redis"))]
pub(crate) use crate::protocol::reply::Outcome;

pub use bus::{BusEvent, BusFuture, NodeBus};
pub(crate) use error::blocking;
pub use error::{StoreCause, StoreError};
pub use memory::MemoryStore;
#[cfg(feature = "redb")]
pub use redb::{RedbOptions, RedbStore};
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisStore};
#[cfg(any(feature = "redb", feature = "redis"))]
pub(crate) use saved::gapless_tail;
pub use saved::{SavedChain, SavedDelta, SavedSession, SavedTask};
pub use session_store::SessionStore;
pub use step::Step;
pub use step_log::{LoggedSession, StepLog};

/// The whole-session store under its name from before the split into
/// [`SessionStore`] and [`StepLog`]; `Arc<dyn Store>` and `impl Store for`
/// mean exactly the same as with [`SessionStore`].
pub use session_store::SessionStore as Store;

/// `t` in milliseconds since the UNIX epoch (0 before it), as stores keep
/// activity times.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
