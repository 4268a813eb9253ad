//! Who is here: what the presence hooks ([`crate::App::tab_joined`],
//! [`crate::App::tab_left`], [`crate::App::tab_visibility`]) are told.
//!
//! A presence change runs in the session's queue like an event, so what a
//! hook does to the state is one delta (with `event_id: null`), journaled
//! and saved like any other. The idea is Phoenix Presence's, kept simpler:
//! one node owns a session, so the list is the supervisor's registry and
//! needs no CRDT.

use serde::Serialize;

use crate::ids::TabId;

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceChange {
    /// A tab new to the session joined (a rejoin or a takeover of a tab
    /// already joined is not a change).
    Joined,
    /// A tab left: a `phx_leave`, a closed or timed-out socket, a refused
    /// rejoin. A page that reconnects leaves, then joins again.
    Left,
    /// A joined tab was shown or hidden (its `visibility` push).
    Visibility,
}

/// One tab joined to the session, as a presence hook sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PresentTab<I> {
    /// The tab's id (the join's `tab_id`).
    pub tab: TabId,
    /// Its connection's identity, as [`crate::App::connect`] decided.
    #[serde(skip)]
    pub identity: I,
    /// Whether its page is shown.
    pub visible: bool,
}

/// A presence change: the tab it is about and everyone joined after it.
///
/// `tabs` is the whole list, so a hook can replace what it keeps instead
/// of patching it: what the state held from before a restart (when no tab
/// was joined) is corrected by the first change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Presence<I> {
    /// What changed.
    pub change: PresenceChange,
    /// The tab it is about; after [`PresenceChange::Left`] it is no
    /// longer in `tabs`, and `visible` is `false`.
    pub tab: PresentTab<I>,
    /// The tabs joined after the change, in join order (at most
    /// [`crate::Config::max_tabs_per_session`]).
    pub tabs: Vec<PresentTab<I>>,
}

impl<I> Presence<I> {
    /// How many of `tabs` are visible.
    pub fn visible_tabs(&self) -> usize {
        self.tabs.iter().filter(|t| t.visible).count()
    }
}
