//! The [`Metrics`] of a build without the feature `metrics`: the same
//! names as `counted.rs`, all doing nothing. Every handle is
//! [`Uncounted`], of size zero, and every method an empty body the
//! compiler inlines away, so callers count unconditionally and it costs
//! nothing.

use crate::protocol::reply::Resume;
use crate::protocol::{ErrorReason, Reason};

/// A counter, gauge or histogram that counts nothing.
// Clone and not Copy, as the counting handles are, so callers read alike.
#[derive(Clone, Debug, Default)]
pub(crate) struct Uncounted;

impl Uncounted {
    /// Nothing (a counter's or gauge's `+1`).
    #[inline]
    pub(crate) fn inc(&self) {}

    /// Nothing (a counter's `+n`).
    #[inline]
    pub(crate) fn inc_by(&self, _n: u64) {}

    /// Nothing (a gauge's `-1`; the app proxy's calls in flight).
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    #[inline]
    pub(crate) fn dec(&self) {}

    /// Nothing (a gauge's `+n`).
    #[inline]
    pub(crate) fn add(&self, _n: i64) {}

    /// Nothing (a gauge's new value).
    #[inline]
    pub(crate) fn set(&self, _n: i64) {}
}

/// A gauge; counts nothing here (the app proxy's calls in flight).
#[cfg_attr(not(feature = "proxy"), allow(dead_code))]
pub(crate) type Gauge = Uncounted;

/// A hub's metrics when nothing is counted: the handles and methods of the
/// counting `Metrics`, each doing nothing.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) sessions_live: Uncounted,
    pub(crate) connections_open: Uncounted,
    pub(crate) tabs_connected: Uncounted,
    pub(crate) summary_joins: Uncounted,
    pub(crate) journal_bytes: Uncounted,
    pub(crate) journal_evicted: Uncounted,
    pub(crate) deltas_sent: Uncounted,
    pub(crate) chains_dispatched: Uncounted,
    pub(crate) chains_reelected: Uncounted,
    pub(crate) pushes_dropped: Uncounted,
    pub(crate) effects_dropped: Uncounted,
    pub(crate) outbound_overflows: Uncounted,
    pub(crate) slow_clients_cut: Uncounted,
}

impl Metrics {
    /// Metrics that count nothing.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub(crate) fn event(&self, _ok: bool) {}

    #[inline]
    pub(crate) fn refused(&self, _reason: Reason) {}

    #[inline]
    pub(crate) fn refused_with(&self, _reason: &ErrorReason) {}

    #[inline]
    pub(crate) fn api_request(&self, _route: &str, _status: u16) {}

    #[inline]
    pub(crate) fn closed(&self, _code: u16) {}

    #[inline]
    pub(crate) fn joined(&self, _resume: Resume) {}

    #[inline]
    pub(crate) fn summary_joined(&self) {}

    #[inline]
    pub(crate) fn upgrade_refused(&self, _status: u16, _reason: &str) {}

    #[inline]
    pub(crate) fn committed(&self, _steps: usize, _seconds: f64, _ok: bool) {}

    /// Empty: nothing is counted.
    pub(crate) fn text(&self) -> String {
        String::new()
    }
}
