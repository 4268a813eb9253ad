//! What a store keeps of a stopped session: [`SavedSession`] and its
//! parts ([`SavedDelta`], [`SavedChain`], [`SavedTask`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::ids::{ChainId, Epoch};
use crate::protocol::reply::Outcome;

/// One journaled delta: its seq and its `delta` payload JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedDelta {
    /// The seq the delta produces.
    pub seq: u64,
    /// The `delta` payload, exactly as it was sent.
    pub payload: Arc<RawValue>,
}

/// A chained event not yet re-submitted by any tab.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedChain {
    /// Its chain id.
    pub chain: ChainId,
    /// The event name to re-submit.
    pub name: String,
    /// The event payload to re-submit.
    pub payload: Value,
}

/// A restartable background task that was running: its key and the input
/// the app gave it, handed back to [`crate::App::restart_task`] on load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedTask {
    /// The task's key.
    pub key: String,
    /// The app's input for restarting it.
    pub input: Value,
}

/// Everything a stopped session needs to come back as it was.
///
/// It grows with the session (new fields are `#[serde(default)]`), so code
/// outside tabhub builds one with [`SavedSession::new`] and sets the
/// fields it needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SavedSession {
    /// The state's JSON.
    pub state: Value,
    /// The seq of that state. A loaded session never goes below it.
    pub seq: u64,
    /// The epoch, if the store kept the journal with it. `None` makes the
    /// loaded session start a new epoch (tabs resync by snapshot).
    pub epoch: Option<Epoch>,
    /// Recent deltas, oldest first, ending at `seq` (empty if not kept).
    pub journal: Vec<SavedDelta>,
    /// Chains waiting for a tab; re-sent after the session loads.
    pub pending_chains: Vec<SavedChain>,
    /// Recent event ids and chain ids with their first outcome, oldest first.
    pub recent: Vec<(String, Outcome)>,
    /// The app's last summary (docs/protocol.md section 5.8 (summary joins)),
    /// `null` if never set.
    #[serde(default)]
    pub summary: Value,
    /// Restartable tasks that were running, restarted after a load.
    #[serde(default)]
    pub tasks: Vec<SavedTask>,
    /// Recent chain ids with their first outcome, oldest first.
    #[serde(default)]
    pub recent_chains: Vec<(String, Outcome)>,
}

impl SavedSession {
    /// A session whose state is `state` at `seq`, with no epoch (it loads
    /// in a new epoch), and no journal, chains, recent ids, summary or
    /// tasks.
    pub fn new(state: Value, seq: u64) -> Self {
        Self {
            state,
            seq,
            epoch: None,
            journal: Vec::new(),
            pending_chains: Vec::new(),
            recent: Vec::new(),
            summary: Value::Null,
            tasks: Vec::new(),
            recent_chains: Vec::new(),
        }
    }
}

/// The longest suffix of `journal` that ends at `seq` with no gap (the
/// session's journal is already bounded; a gap or a journal not ending at
/// the saved seq could not be replayed).
#[cfg(any(feature = "redb", feature = "redis"))]
pub(crate) fn gapless_tail(journal: &[SavedDelta], seq: u64) -> &[SavedDelta] {
    let mut keep = 0;
    let mut expected = Some(seq);
    for d in journal.iter().rev() {
        if Some(d.seq) != expected {
            break;
        }
        keep += 1;
        expected = d.seq.checked_sub(1);
    }
    &journal[journal.len() - keep..]
}
