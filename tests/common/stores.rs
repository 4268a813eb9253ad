//! Store wrappers for faults no real part produces on demand: a durable
//! store whose commits wait at a gate (a stalled disk) or fail.

use std::sync::{Condvar, Mutex};

use tabhub::{MemoryStore, SavedSession, SessionKey, Step, Store, StoreError};

/// A durable store whose appends wait until the test opens the gate, and
/// which can be told to fail.
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
        let arrived = || {
            let steps = self.arrived.lock().unwrap();
            steps
                .iter()
                .any(|s| s.event.as_ref().is_some_and(|(e, _)| e == id))
        };
        while !arrived() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

impl Store for GatedStore {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.inner.save(key, session)
    }
    fn durable(&self) -> bool {
        true
    }
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        self.arrived.lock().unwrap().extend(steps.iter().cloned());
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        if *self.fail.lock().unwrap() {
            return Err(StoreError {
                message: "disk on fire".into(),
            });
        }
        self.batches.lock().unwrap().push(steps.to_vec());
        Ok(())
    }
}
