//! [`RedisStore`]: sessions kept in Redis, for several tabhub nodes
//! sharing one Redis (docs/scale-out.md). It is both halves of a store,
//! like [`crate::store::RedbStore`]: a [`StepLog`] that appends every step
//! (one round trip per batch, pipelined across keys) and a
//! [`SessionStore`] that saves, loads (checkpoint + deltas, rebuilt by
//! [`LoggedSession::rebuild`]), deletes and lists sessions.
//!
//! One node owns a session at a time (`lease.rs`): loading a session takes
//! its lease, every write is checked against it inside Redis, and stopping
//! gives it up. Keys: `keys.rs`; the Lua scripts: `lua/`; the connection
//! (`redis`'s ConnectionManager on a thread of the store's own): `io.rs`;
//! what it counts (`/metrics`, and Redis's reachability for `/healthz`):
//! `stats.rs`.
//!
//! What "stored" means is Redis's persistence setting: with
//! `appendonly yes` and `appendfsync always` an acknowledged step survives
//! a crash of Redis's machine; with `everysec`, up to a second of steps
//! may be lost with it; with no persistence, a Redis restart loses
//! everything.

mod bus;
mod io;
mod keys;
mod lease;
mod read;
mod stats;
mod write;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use self::io::Io;
use self::lease::{Leases, Owner};
use crate::ids::SessionKey;
use crate::store::{unix_ms, LoggedSession, SavedSession, SessionStore, Step, StepLog, StoreError};

/// How to reach Redis and how this node takes part.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// This node's id, unique among the nodes sharing the Redis (a new
    /// one per process start; it names the lease holder).
    pub node: String,
    /// How long a lease lasts without renewal (renewed every third of it).
    /// A node that dies loses its sessions after at most this.
    pub lease: Duration,
    /// Event ids, and separately chain ids, kept per key with their outcome.
    pub recent_events: usize,
    /// The prefix of every Redis key the store writes (`tabhub`).
    pub prefix: String,
    /// The bound on connecting and on each command's answer.
    pub timeout: Duration,
}

impl RedisOptions {
    /// Options for `url`: a fresh node id, a 5 s lease, 1000 recent ids,
    /// the prefix `tabhub`, a 2 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            node: uuid::Uuid::new_v4().simple().to_string(),
            lease: Duration::from_secs(5),
            recent_events: 1000,
            prefix: "tabhub".into(),
            timeout: Duration::from_secs(2),
        }
    }
}

/// Sessions kept in Redis; see the module docs.
pub struct RedisStore {
    options: RedisOptions,
    io: Io,
    owner: Owner,
    /// Where [`crate::store::NodeBus::publish`] queues messages (`bus.rs`).
    publisher: tokio::sync::mpsc::UnboundedSender<bus::Outgoing>,
}

impl RedisStore {
    /// Connects to Redis and starts renewing the leases this node takes.
    ///
    /// # Errors
    /// [`StoreError`] when the URL is malformed. Redis need not be up: the
    /// store starts with Redis unreachable (`/healthz` says so) and
    /// connects when Redis answers.
    pub fn open(options: RedisOptions) -> Result<Self, StoreError> {
        let io = Io::connect(&options.url, options.timeout)?;
        let owner = Owner {
            node: options.node.clone(),
            lease: options.lease,
            prefix: options.prefix.clone(),
            leases: Arc::new(Leases::default()),
        };
        owner.keep_renewing(&io);
        let publisher = bus::start_publisher(&io);
        Ok(Self {
            options,
            io,
            owner,
            publisher,
        })
    }

    /// This node's id (the lease holder's name).
    pub fn node(&self) -> &str {
        &self.options.node
    }

    /// Whether this node holds the lease of `key` as far as it knows (it
    /// learns of a loss at its next renewal or write).
    pub fn owns(&self, key: &SessionKey) -> bool {
        self.owner.leases.of(key).is_some()
    }
}

impl SessionStore for RedisStore {
    /// Takes the session's lease, then reads and rebuilds it.
    ///
    /// # Errors
    /// [`crate::store::StoreCause::Fenced`] when another node owns it.
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.owner.acquire(&self.io, key)?;
        let loaded = self
            .read_steps(key)
            .and_then(|logged| logged.map(|l| l.rebuild(key)).transpose());
        if loaded.is_err() {
            // No session of the key runs here: another node may try.
            self.owner.release(&self.io, key);
        }
        loaded
    }

    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.save_session(key, session)
    }

    fn load_summary(&self, key: &SessionKey) -> Result<Option<Value>, StoreError> {
        self.read_summary(key)
    }

    fn sessions_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        self.keys_with_tasks()
    }

    fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.delete_key(key, None)
    }

    fn touch(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.touch_key(key)
    }

    fn idle_before(&self, cutoff: SystemTime, limit: usize) -> Result<Vec<SessionKey>, StoreError> {
        self.idle_keys(unix_ms(cutoff), limit)
    }

    fn recent(&self, offset: usize, limit: usize) -> Result<Vec<(SessionKey, u64)>, StoreError> {
        self.recent_keys(offset, limit)
    }

    /// Deletes `key` if it is still idle and no other node owns it.
    fn delete_if_idle(&self, key: &SessionKey, cutoff: SystemTime) -> Result<bool, StoreError> {
        match self.delete_key(key, Some(unix_ms(cutoff))) {
            Err(e) if matches!(e.cause, crate::store::StoreCause::Fenced(_)) => Ok(false),
            other => other,
        }
    }

    fn release(&self, key: &SessionKey) {
        self.owner.release(&self.io, key);
    }

    fn lost_sessions(&self) -> Option<Vec<SessionKey>> {
        Some(self.owner.leases.take_lost())
    }

    /// `"redis"` while Redis did not answer the node's latest call (a
    /// renewal or a ping, a third of the lease time apart, at least).
    fn unreachable(&self) -> Option<&'static str> {
        (!self.io.stats.up()).then_some("redis")
    }

    fn metrics_text(&self) -> String {
        self.io.stats.text()
    }

    fn step_log(&self) -> Option<&dyn StepLog> {
        Some(self)
    }

    fn bus(&self) -> Option<&dyn crate::store::NodeBus> {
        Some(self)
    }
}

impl StepLog for RedisStore {
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        if steps.is_empty() {
            return Ok(());
        }
        self.append_steps(steps)
    }

    fn load_steps(&self, key: &SessionKey) -> Result<Option<LoggedSession>, StoreError> {
        self.read_steps(key)
    }

    /// Redis answers a PING.
    fn probe(&self) -> Option<Result<(), StoreError>> {
        let mut con = self.io.con.clone();
        Some(self.io.run(async move {
            redis::cmd("PING")
                .query_async::<()>(&mut con)
                .await
                .map_err(|e| io::cause("asking Redis for a PING", &e))
        }))
    }
}
