//! Leases: one owner per session at a time, with a fencing token.
//!
//! A node takes a session's lease when it loads the session (`acquire.lua`:
//! SET NX with an expiry, the value `"<node>/<token>"`, where the token is
//! the key's fencing counter after INCR, so it only grows). It renews every
//! lease it holds a third of the lease time apart, and gives it up when the
//! session stops. Every write checks, inside Redis and in the same script,
//! that the writer still holds the lease (`owns.lua`): a node that lost it
//! (paused, partitioned, too slow to renew while another node took the key)
//! never writes again, and learns so from the refusal
//! ([`StoreCause::Fenced`]), which ends its session there.
//!
//! [`StoreCause::Fenced`]: crate::store::StoreCause::Fenced

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::io::{cause, Io, Scripts};
use super::keys::SessionKeys;
use super::stats::{LeaseEvent, RedisStats};
use crate::ids::SessionKey;
use crate::store::{StoreCause, StoreError};

/// The leases this node holds: session key to lease value; and the
/// sessions whose lease another node took, until the hub asks.
#[derive(Default)]
pub(super) struct Leases {
    held: Mutex<HashMap<SessionKey, String>>,
    lost: Mutex<Vec<SessionKey>>,
}

/// A lease as the scripts take it: its value and its token.
pub(super) struct Held {
    pub(super) value: String,
    pub(super) token: String,
}

impl Held {
    fn new(value: String) -> Self {
        let token = value.rsplit('/').next().unwrap_or_default().to_owned();
        Self { value, token }
    }
}

impl Leases {
    /// The lease of `key`, if this node holds it.
    pub(super) fn of(&self, key: &SessionKey) -> Option<Held> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(key).cloned().map(Held::new)
    }

    /// The lease of `key`, or the refusal a write without it gets.
    pub(super) fn required(&self, key: &SessionKey) -> Result<Held, StoreError> {
        self.of(key).ok_or_else(|| {
            StoreError::new(StoreCause::Fenced(
                "this node does not hold the session's lease".into(),
            ))
            .for_key(key)
        })
    }

    fn insert(&self, key: &SessionKey, value: String) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.insert(key.clone(), value);
    }

    /// Forgets the lease of `key`; its value, if it was held.
    pub(super) fn forget(&self, key: &SessionKey) -> Option<String> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.remove(key)
    }

    /// Forgets the lease of `key`, which another node took, if it is
    /// still `value` (a lease lost while a newer one was taken is not
    /// forgotten), and notes the session as lost.
    fn lose(&self, key: &SessionKey, value: &str) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.get(key).is_some_and(|v| v == value) {
            held.remove(key);
            drop(held);
            let mut lost = self.lost.lock().unwrap_or_else(PoisonError::into_inner);
            lost.push(key.clone());
        }
    }

    /// The sessions lost since the last call.
    pub(super) fn take_lost(&self) -> Vec<SessionKey> {
        let mut lost = self.lost.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *lost)
    }

    fn snapshot(&self) -> Vec<(SessionKey, String)> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// How a node takes, renews and gives up leases.
pub(super) struct Owner {
    pub(super) node: String,
    pub(super) lease: Duration,
    pub(super) prefix: String,
    pub(super) leases: Arc<Leases>,
}

impl Owner {
    pub(super) fn lease_ms(&self) -> u64 {
        u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX)
    }

    /// Takes the lease of `key` for this node (or renews it, if it holds
    /// it already).
    ///
    /// # Errors
    /// [`StoreCause::Fenced`] naming the holder when another node holds
    /// it; [`StoreCause::Backend`] when Redis cannot be reached.
    pub(super) fn acquire(&self, io: &Io, key: &SessionKey) -> Result<Held, StoreError> {
        let keys = SessionKeys::new(&self.prefix, key);
        let mut con = io.con.clone();
        let scripts = io.scripts.clone();
        let (node, ms) = (self.node.clone(), self.lease_ms());
        let (won, value, over): (i64, String, i64) = io
            .run(async move {
                scripts
                    .acquire
                    .key(&keys.lease)
                    .key(&keys.fence)
                    .key(&keys.released)
                    .arg(node)
                    .arg(ms)
                    .invoke_async(&mut con)
                    .await
                    .map_err(|e| cause("taking the session's lease", &e))
            })
            .map_err(|e| e.for_key(key))?;
        if won != 1 {
            io.stats.lease(LeaseEvent::Refused);
            let holder = value.rsplit_once('/').map_or(value.as_str(), |(n, _)| n);
            return Err(StoreError::new(StoreCause::Fenced(format!(
                "the session is owned by node {holder}"
            )))
            .for_key(key));
        }
        io.stats.lease(LeaseEvent::Taken);
        if over == 1 {
            io.stats.lease(LeaseEvent::TakenOver);
        }
        self.leases.insert(key, value.clone());
        Ok(Held::new(value))
    }

    /// Gives up the lease of `key`, if this node holds it (best effort: a
    /// lease not given up expires).
    pub(super) fn release(&self, io: &Io, key: &SessionKey) {
        let Some(value) = self.leases.forget(key) else {
            return;
        };
        let keys = SessionKeys::new(&self.prefix, key);
        let mut con = io.con.clone();
        let scripts = io.scripts.clone();
        let released = io.run(async move {
            scripts
                .release
                .key(&keys.lease)
                .key(&keys.released)
                .arg(value)
                .invoke_async::<i64>(&mut con)
                .await
                .map_err(|e| cause("giving the session's lease up", &e))
        });
        match released {
            Ok(_) => io.stats.lease(LeaseEvent::Released),
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "could not give the lease up; it expires");
            }
        }
    }

    /// Renews every lease this node holds, a third of the lease time
    /// apart, until the store is dropped. A lease another node took is
    /// forgotten: the session's next write is refused, which ends it here.
    pub(super) fn keep_renewing(&self, io: &Io) {
        let leases = self.leases.clone();
        let (prefix, ms) = (self.prefix.clone(), self.lease_ms());
        let alive = super::keys::node_key(&self.prefix, &self.node);
        let every = (self.lease / 3).max(Duration::from_millis(10));
        let con = io.con.clone();
        let scripts = io.scripts.clone();
        let stats = io.stats.clone();
        io.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let round = Round {
                    leases: &leases,
                    scripts: &scripts,
                    stats: &stats,
                    prefix: &prefix,
                    alive: &alive,
                    ms,
                };
                round.renew_all(con.clone()).await;
            }
        });
    }
}

/// What one round of renewals works with.
struct Round<'a> {
    leases: &'a Leases,
    scripts: &'a Scripts,
    stats: &'a RedisStats,
    prefix: &'a str,
    /// This node's liveness key ([`super::keys::node_key`]).
    alive: &'a str,
    ms: u64,
}

impl Round<'_> {
    /// Renews every lease held and the node's liveness key, in one
    /// pipeline, so the node knows whether Redis answers (`/healthz`) even
    /// while it owns no session. The liveness key comes last: it never
    /// lapses before the leases renewed with it, so a node that finds a
    /// peer dead finds its leases free.
    async fn renew_all(&self, mut con: redis::aio::ConnectionManager) {
        let held = self.leases.snapshot();
        let mut pipe = redis::pipe();
        for (key, value) in &held {
            let keys = SessionKeys::new(self.prefix, key);
            let token = Held::new(value.clone()).token;
            pipe.cmd("EVALSHA")
                .arg(self.scripts.renew.get_hash())
                .arg(2)
                .arg(&keys.lease)
                .arg(&keys.fence)
                .arg(value)
                .arg(self.ms)
                .arg(token);
        }
        pipe.cmd("SET")
            .arg(self.alive)
            .arg(1)
            .arg("PX")
            .arg(self.ms)
            .ignore();
        let answers: Result<Vec<redis::RedisResult<i64>>, StoreError> = pipe
            .ignore_errors()
            .query_async(&mut con)
            .await
            .map_err(|e| cause("renewing the leases", &e));
        self.stats.answered(&answers);
        let answers = match answers {
            Ok(answers) => answers,
            Err(e) => {
                if !held.is_empty() {
                    tracing::warn!(error = %e, leases = held.len(), "could not renew the leases; trying again");
                }
                return;
            }
        };
        for ((key, value), answer) in held.iter().zip(answers) {
            match answer {
                Ok(_) => {}
                Err(e) if super::io::no_script(&e) => {
                    if let Err(e) = self.scripts.load(&mut con).await {
                        tracing::warn!(error = %e, "could not load the scripts again");
                    }
                }
                Err(e) => {
                    let e = cause("renewing the lease", &e).for_key(key);
                    if matches!(e.cause, StoreCause::Fenced(_)) {
                        tracing::warn!(key = %key, error = %e, "lease lost: another node owns the session now");
                        self.stats.lease(LeaseEvent::Lost);
                        self.leases.lose(key, value);
                    } else {
                        tracing::warn!(key = %key, error = %e, "could not renew the lease; trying again");
                    }
                }
            }
        }
    }
}
