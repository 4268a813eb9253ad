//! Store wrappers for faults no real part produces on demand: a durable
//! store whose commits wait at a gate (a stalled disk) or fail, and the
//! real redb store failing one key's commits.

use std::sync::{Condvar, Mutex};

use tabhub::{
    LoggedSession, MemoryStore, RedbOptions, RedbStore, SavedSession, SessionKey, SessionStore,
    Step, StepLog, StoreError,
};

/// A store with a step log whose appends wait until the test opens the
/// gate, and which can be told to fail. Its log keeps the batches it
/// accepted for the test to read, not for loading: sessions load from
/// (and save to) `inner`, as a memory store's do.
#[derive(Default)]
pub struct GatedStore {
    pub inner: MemoryStore,
    pub open: Mutex<bool>,
    pub opened: Condvar,
    pub fail: Mutex<bool>,
    pub batches: Mutex<Vec<Vec<Step>>>,
    /// Every step handed to `append`, as it arrives (before the gate).
    pub arrived: Mutex<Vec<Step>>,
}

impl GatedStore {
    pub fn set_open(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.opened.notify_all();
    }

    /// Waits until a step with event id `id` has reached the store (it may
    /// wait at the gate).
    pub async fn wait_arrival_of(&self, id: &str) {
        let arrived = async || {
            let steps = self.arrived.lock().unwrap();
            steps
                .iter()
                .any(|s| s.event.as_ref().is_some_and(|(e, _)| e == id))
        };
        super::eventually(&format!("step {id} to reach the store"), arrived).await;
    }
}

impl SessionStore for GatedStore {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.inner.save(key, session)
    }
    fn step_log(&self) -> Option<&dyn StepLog> {
        Some(self)
    }
}

impl StepLog for GatedStore {
    fn load_steps(&self, _key: &SessionKey) -> Result<Option<LoggedSession>, StoreError> {
        Ok(None)
    }
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        self.arrived.lock().unwrap().extend(steps.iter().cloned());
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        if *self.fail.lock().unwrap() {
            return Err(StoreError::backend("disk on fire"));
        }
        self.batches.lock().unwrap().push(steps.to_vec());
        Ok(())
    }
}

/// The real redb store, but appends of one chosen key fail (a fault no
/// real disk produces for one key on demand). A batch holding any step of
/// that key fails as a whole, as one transaction would.
pub struct FailsFor {
    pub inner: RedbStore,
    /// The key whose appends fail, if any.
    pub key: Mutex<Option<String>>,
}

impl FailsFor {
    /// A fresh redb store in `dir` whose appends all succeed (for now).
    pub fn open(dir: &std::path::Path) -> FailsFor {
        let options = RedbOptions {
            path: dir.join("db.redb"),
            recent_events: 64,
        };
        FailsFor {
            inner: RedbStore::open(options).unwrap(),
            key: Mutex::new(None),
        }
    }

    /// From now on, appends of `key`'s steps fail (`None`: none do).
    pub fn fail_key(&self, key: Option<&str>) {
        *self.key.lock().unwrap() = key.map(str::to_owned);
    }
}

impl SessionStore for FailsFor {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.inner.save(key, session)
    }
    fn touch(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.inner.touch(key)
    }
    fn step_log(&self) -> Option<&dyn StepLog> {
        Some(self)
    }
}

impl StepLog for FailsFor {
    fn load_steps(&self, key: &SessionKey) -> Result<Option<LoggedSession>, StoreError> {
        self.inner.load_steps(key)
    }
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        let failing = self.key.lock().unwrap().clone();
        if steps
            .iter()
            .any(|s| Some(s.key.as_str()) == failing.as_deref())
        {
            return Err(StoreError::backend("injected: this key's writes fail"));
        }
        self.inner.append(steps)
    }
}
