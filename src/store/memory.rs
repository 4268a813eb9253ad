//! [`MemoryStore`]: saved sessions in process memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use super::{unix_ms, SavedSession, SessionStore, StoreError};
use crate::ids::SessionKey;

/// Keeps saved sessions in a map in memory: they survive a session's stop
/// (grace expiry) but not the process.
///
/// [`MemoryStore::new`] keeps everything, journal and epoch included, so a
/// reloaded session resumes cursors by replay. [`MemoryStore::state_only`]
/// keeps state and seq only, as a store without a journal would; reloaded
/// sessions then start a new epoch and tabs resync by snapshot.
///
/// Each key's last activity (save or touch) is kept with an index by time,
/// so idle sessions can be expired ([`SessionStore::idle_before`]).
///
/// It has no [`super::StepLog`]: a log in process memory would survive
/// nothing a whole save at stop does not, and would hold every delivery
/// until its "commit"; sessions are saved whole when they stop.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    state_only: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// Saved sessions, each with its last activity (ms since the epoch).
    sessions: HashMap<SessionKey, (SavedSession, u64)>,
    /// `(last activity ms, key)` of every saved session, oldest first.
    by_activity: BTreeSet<(u64, SessionKey)>,
}

impl Inner {
    /// Moves `key` to `at_ms` in the activity index (if it is saved).
    fn stamp(&mut self, key: &SessionKey, at_ms: u64) {
        if let Some((_, active)) = self.sessions.get_mut(key) {
            self.by_activity.remove(&(*active, key.clone()));
            *active = at_ms;
            self.by_activity.insert((at_ms, key.clone()));
        }
    }

    fn remove(&mut self, key: &SessionKey) -> bool {
        match self.sessions.remove(key) {
            Some((_, active)) => {
                self.by_activity.remove(&(active, key.clone()));
                true
            }
            None => false,
        }
    }
}

impl MemoryStore {
    /// A store that keeps everything a session saves.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that keeps only state and seq (and pending chains and recent
    /// outcomes), dropping the epoch and journal.
    pub fn state_only() -> Self {
        Self {
            inner: Mutex::default(),
            state_only: true,
        }
    }

    /// Number of saved sessions.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no session is saved.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps
        // half-written (each change is a few inserts and removes of owned
        // values), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionStore for MemoryStore {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        Ok(self.lock().sessions.get(key).map(|(s, _)| s.clone()))
    }

    fn sessions_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        Ok(self
            .lock()
            .sessions
            .iter()
            .filter(|(_, (s, _))| !s.tasks.is_empty())
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        let mut saved = session.clone();
        if self.state_only {
            saved.epoch = None;
            saved.journal.clear();
        }
        let now = unix_ms(SystemTime::now());
        let mut inner = self.lock();
        if let Some((_, was)) = inner.sessions.insert(key.clone(), (saved, now)) {
            inner.by_activity.remove(&(was, key.clone()));
        }
        inner.by_activity.insert((now, key.clone()));
        Ok(())
    }

    fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Ok(self.lock().remove(key))
    }

    fn touch(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.lock().stamp(key, unix_ms(SystemTime::now()));
        Ok(())
    }

    fn idle_before(&self, cutoff: SystemTime, limit: usize) -> Result<Vec<SessionKey>, StoreError> {
        let cutoff = unix_ms(cutoff);
        Ok(self
            .lock()
            .by_activity
            .iter()
            .take_while(|(at, _)| *at < cutoff)
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect())
    }

    fn recent(&self, offset: usize, limit: usize) -> Result<Vec<(SessionKey, u64)>, StoreError> {
        Ok(self
            .lock()
            .by_activity
            .iter()
            .rev()
            .skip(offset)
            .take(limit)
            .map(|(at, k)| (k.clone(), *at))
            .collect())
    }

    fn delete_if_idle(&self, key: &SessionKey, cutoff: SystemTime) -> Result<bool, StoreError> {
        let cutoff = unix_ms(cutoff);
        let mut inner = self.lock();
        let idle = inner
            .sessions
            .get(key)
            .is_some_and(|(_, active)| *active < cutoff);
        Ok(idle && inner.remove(key))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn saved(seq: u64) -> SavedSession {
        SavedSession {
            state: json!({"n": seq}),
            seq,
            epoch: None,
            journal: Vec::new(),
            pending_chains: Vec::new(),
            recent: Vec::new(),
            summary: json!(null),
            tasks: Vec::new(),
            recent_chains: Vec::new(),
        }
    }

    #[test]
    fn idle_keys_come_oldest_first_and_only_idle_ones_are_deleted() {
        let store = MemoryStore::new();
        let (a, b) = (SessionKey::random(), SessionKey::random());
        store.save(&a, &saved(1)).unwrap();
        std::thread::sleep(Duration::from_millis(3));
        store.save(&b, &saved(2)).unwrap();
        std::thread::sleep(Duration::from_millis(3));
        store.touch(&a).unwrap();
        let later = SystemTime::now() + Duration::from_secs(60);
        let earlier = SystemTime::now() - Duration::from_secs(60);
        assert_eq!(
            store.idle_before(later, 10).unwrap(),
            vec![b.clone(), a.clone()]
        );
        assert_eq!(store.idle_before(later, 1).unwrap(), vec![b.clone()]);
        assert!(store.idle_before(earlier, 10).unwrap().is_empty());
        assert!(!store.delete_if_idle(&a, earlier).unwrap());
        assert!(store.delete_if_idle(&a, later).unwrap());
        assert!(store.load(&a).unwrap().is_none());
        assert!(store.delete(&b).unwrap());
        assert!(!store.delete(&b).unwrap());
        assert!(store.is_empty());
        assert!(store.idle_before(later, 10).unwrap().is_empty());
    }
}
