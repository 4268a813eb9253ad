//! [`SessionStore`]: the whole-session half of a store, which every store
//! implements.

use std::time::SystemTime;

use serde_json::Value;

use super::{SavedSession, StepLog, StoreError};
use crate::ids::SessionKey;

/// Where stopped sessions are kept, whole: a session loads itself from
/// here when it starts and, unless its steps went to a [`StepLog`], saves
/// itself here when it stops; the service lists and deletes idle keys
/// here (`--session-ttl`).
///
/// Calls are synchronous and may block: tabhub never makes them on an
/// actor thread (they run on the blocking pool), so a slow disk delays
/// only the session it serves.
///
/// A store that also keeps every step durably implements [`StepLog`] and
/// says so in [`SessionStore::step_log`]; its `load` then returns what its
/// log rebuilds ([`super::LoggedSession::rebuild`]).
pub trait SessionStore: Send + Sync + 'static {
    /// Loads a saved session, `Ok(None)` if the key was never saved.
    ///
    /// # Errors
    /// [`StoreError`] when the record exists but cannot be read.
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError>;

    /// Saves a session, replacing what was saved for the key.
    ///
    /// # Errors
    /// [`StoreError`] when it could not be written.
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError>;

    /// The saved summary of a key (`Ok(None)` if never saved), served to
    /// summary joins of a stopped session. The default loads the whole
    /// session; stores may read less.
    ///
    /// # Errors
    /// As [`SessionStore::load`].
    fn load_summary(&self, key: &SessionKey) -> Result<Option<Value>, StoreError> {
        Ok(self.load(key)?.map(|s| s.summary))
    }

    /// Keys of saved sessions that had restartable tasks running, so the
    /// service can load them at start and their tasks go on without waiting
    /// for a tab. A store shared by several nodes ([`SessionStore::bus`])
    /// lists only those no node owns now, and the hub asks it again every
    /// lease time, so the tasks of a node that died go on elsewhere.
    /// Default: none.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn sessions_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        Ok(Vec::new())
    }

    /// Deletes everything kept for `key` (state, journal, recent ids,
    /// chains, tasks, summary, and its steps in the step log): the next
    /// load finds nothing and the key starts again from the app's initial
    /// state, in a new epoch. Never called while the key's session is live
    /// (the supervisor fences the key until this returns).
    ///
    /// Returns whether anything was kept. The default refuses: a store
    /// that cannot delete keeps every session.
    ///
    /// # Errors
    /// [`StoreError`] when it could not be deleted (nothing is then
    /// deleted), or the store cannot delete ([`super::StoreCause::Unsupported`]).
    fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Err(StoreError::unsupported("this store cannot delete sessions").for_key(key))
    }

    /// Notes that the session of `key` was active now, although it has
    /// nothing new to save (it stopped unchanged). Stores that expire idle
    /// sessions keep, per key, the time of its last save, append or touch.
    /// Default: nothing.
    ///
    /// # Errors
    /// [`StoreError`] when it could not be written.
    fn touch(&self, key: &SessionKey) -> Result<(), StoreError> {
        let _ = key;
        Ok(())
    }

    /// At most `limit` keys whose last activity (save, append or touch) is
    /// older than `cutoff`, least recently active first: the candidates of
    /// the retention sweeper (`--session-ttl`). The sweeper calls it once
    /// per tick, so it must cost about `limit` reads, not a scan of every
    /// key. Default: none (sessions are kept forever).
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn idle_before(&self, cutoff: SystemTime, limit: usize) -> Result<Vec<SessionKey>, StoreError> {
        let _ = (cutoff, limit);
        Ok(Vec::new())
    }

    /// A page of the stored sessions, most recently active first: the rows
    /// `offset..offset + limit` of the activity index, each the key and its
    /// last activity (save, append or touch; ms since the Unix epoch; a
    /// store may stamp appends coarsely, as [`super::RedbStore`] does once a
    /// minute). For inspection (`GET /api/sessions`): a key active between
    /// two pages moves to the front, so pages of a busy store may repeat or
    /// skip a row. Default: none (a store without an activity index lists
    /// nothing).
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn recent(&self, offset: usize, limit: usize) -> Result<Vec<(SessionKey, u64)>, StoreError> {
        let _ = (offset, limit);
        Ok(Vec::new())
    }

    /// Deletes `key` as [`SessionStore::delete`] does, but only if its last
    /// activity is still older than `cutoff`, checked in the same
    /// transaction (the key may have been used since it was listed).
    /// Returns whether it was deleted. Default: never deletes.
    ///
    /// # Errors
    /// [`StoreError`] when it could not be read or deleted.
    fn delete_if_idle(&self, key: &SessionKey, cutoff: SystemTime) -> Result<bool, StoreError> {
        let _ = (key, cutoff);
        Ok(false)
    }

    /// The session of `key` stopped on this node (after its last save or
    /// touch): a store shared by several nodes gives up its ownership, so
    /// another node may load it at once ([`super::RedisStore`] releases
    /// the lease). Best effort: it reports nothing. Default: nothing.
    fn release(&self, key: &SessionKey) {
        let _ = key;
    }

    /// The sessions this node owned and lost since the last call (a store
    /// shared by several nodes, whose lease on them ran out and was taken
    /// by another node); the hub tells each to give its key up. `None`:
    /// this store never loses a session (the default), and the hub stops
    /// asking.
    fn lost_sessions(&self) -> Option<Vec<SessionKey>> {
        None
    }

    /// The backend this store cannot reach now, if any (`"redis"`): the
    /// hub's `/healthz` then reports `{"status": "unhealthy", "reason":
    /// <it>}`. Default: `None` (a store in the process or on local disk).
    fn unreachable(&self) -> Option<&'static str> {
        None
    }

    /// The store's own metrics in Prometheus' text format (names start
    /// with `tabhub_`), appended to the hub's `GET /metrics`; never
    /// called without the crate feature `metrics`. Default: none.
    fn metrics_text(&self) -> String {
        String::new()
    }

    /// This store's durable step log, if it keeps one (usually `Some(self)`
    /// for a store that implements [`StepLog`] too). With one, the hub
    /// starts the group-commit thread, every step of every session is
    /// appended to it, and nothing a step sends is visible before its
    /// append returned (durable before visible, `docs/durability.md`);
    /// a stopping session is then not saved whole (its steps are the
    /// record; its key is only touched). Without one (the default), a session is kept in memory
    /// while it runs and saved whole when it stops.
    fn step_log(&self) -> Option<&dyn StepLog> {
        None
    }

    /// The bus between the nodes sharing this store, if it is shared
    /// ([`crate::store::RedisStore`]): with one, the hub serves tabs of sessions
    /// another node owns by forwarding between the nodes
    /// (docs/scale-out.md, "Remote tabs"). Default: none.
    fn bus(&self) -> Option<&dyn crate::store::NodeBus> {
        None
    }
}
