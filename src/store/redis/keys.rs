//! Where a session's records live in Redis: every key of one session
//! carries the session key as its hash tag (`{…}`), so Redis Cluster puts
//! them in one slot and one script may touch them all. Two hub-wide keys
//! index the sessions: by last activity (retention) and by running
//! restartable tasks.

use crate::ids::SessionKey;

/// The Redis keys of one session, under `prefix`.
pub(super) struct SessionKeys {
    /// `…:lease`: `"<node>/<token>"`, with the lease's expiry (PX).
    pub(super) lease: String,
    /// `…:fence`: the fencing counter (INCR at each new holder).
    pub(super) fence: String,
    /// `…:released`: set when the owner gave the lease up on purpose (the
    /// session stopped), cleared by the next holder. A session with tasks,
    /// no lease and no mark lost its owner: another node takes it over.
    pub(super) released: String,
    /// `…:meta`: a hash of `seq`, `epoch`, `cp_seq`, `journal_from`,
    /// `summary` (JSON), `active_ms`, `last_append` (the SHA-1 of the last
    /// appended batch of steps, so a batch sent again is not applied twice).
    pub(super) meta: String,
    /// `…:cp`: the checkpoint, the whole state (JSON) at `cp_seq`.
    pub(super) checkpoint: String,
    /// `…:deltas`: the `delta` payloads kept, oldest first, ending at `seq`.
    pub(super) deltas: String,
    /// `…:events`, `…:chains`: recent event and chain ids with their
    /// first outcome (JSON `[id, outcome]`), oldest first.
    pub(super) events: String,
    pub(super) chains: String,
    /// `…:pending`: pending chains by id (JSON); `…:order`: their ids in
    /// creation order.
    pub(super) pending: String,
    pub(super) order: String,
    /// `…:tasks`: restartable tasks by key (JSON).
    pub(super) tasks: String,
}

impl SessionKeys {
    pub(super) fn new(prefix: &str, key: &SessionKey) -> Self {
        let at = |what: &str| format!("{prefix}:{{{}}}:{what}", key.as_str());
        Self {
            lease: at("lease"),
            fence: at("fence"),
            released: at("released"),
            meta: at("meta"),
            checkpoint: at("cp"),
            deltas: at("deltas"),
            events: at("events"),
            chains: at("chains"),
            pending: at("pending"),
            order: at("order"),
            tasks: at("tasks"),
        }
    }

    /// The keys every write script takes, in the order the scripts name
    /// them (`KEYS[1]` to `KEYS[10]`).
    pub(super) fn all(&self) -> [&str; 10] {
        [
            &self.lease,
            &self.fence,
            &self.meta,
            &self.checkpoint,
            &self.deltas,
            &self.events,
            &self.chains,
            &self.pending,
            &self.order,
            &self.tasks,
        ]
    }
}

/// The hub-wide index of sessions by last activity (a sorted set scored by
/// ms since the UNIX epoch), which the retention sweep reads.
pub(super) fn idle_index(prefix: &str) -> String {
    format!("{prefix}:idle")
}

/// The hub-wide set of sessions with restartable tasks running, which a
/// starting node loads so their tasks go on.
pub(super) fn task_index(prefix: &str) -> String {
    format!("{prefix}:tasks")
}

/// A node's liveness key: set with the lease's expiry (PX) and renewed
/// with its leases, so it lapses when the node dies.
pub(super) fn node_key(prefix: &str, node: &str) -> String {
    format!("{prefix}:node:{node}")
}

/// The pub/sub channel other nodes publish to for `node`.
pub(super) fn node_channel(prefix: &str, node: &str) -> String {
    format!("{prefix}:to:{node}")
}
