//! The demo's presence list: who has the session open, and whether they
//! are looking at it. The hooks replace the list with the one they are
//! given, so a list saved before a restart is put right by the first join.

use serde::{Deserialize, Serialize};

use super::DemoState;
use crate::app::Presence;

/// One tab in the demo's `"here"` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Here {
    /// The tab's id.
    pub tab: String,
    /// Whether its page is shown.
    pub visible: bool,
}

/// Sets `state.here` to the tabs joined after `presence`'s change.
pub(super) fn keep(state: &mut DemoState, presence: &Presence<()>) {
    state.here = presence
        .tabs
        .iter()
        .map(|t| Here {
            tab: t.tab.as_str().to_owned(),
            visible: t.visible,
        })
        .collect();
}
