//! [`MemoryStore`]: saved sessions in process memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::{SavedSession, Store, StoreError};
use crate::ids::SessionKey;

/// Keeps saved sessions in a map in memory: they survive a session's stop
/// (grace expiry) but not the process.
///
/// [`MemoryStore::new`] keeps everything, journal and epoch included, so a
/// reloaded session resumes cursors by replay. [`MemoryStore::state_only`]
/// keeps state and seq only, as a store without a journal would; reloaded
/// sessions then start a new epoch and tabs resync by snapshot.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<SessionKey, SavedSession>>,
    state_only: bool,
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
            sessions: Mutex::default(),
            state_only: true,
        }
    }

    /// Number of saved sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is saved.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, SavedSession>> {
        // A panic while holding this lock cannot leave the map half-written
        // (inserts and clones only), so a poisoned lock is still usable.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }

    fn sessions_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        Ok(self
            .lock()
            .iter()
            .filter(|(_, s)| !s.tasks.is_empty())
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        let mut saved = session.clone();
        if self.state_only {
            saved.epoch = None;
            saved.journal.clear();
        }
        self.lock().insert(key.clone(), saved);
        Ok(())
    }
}
