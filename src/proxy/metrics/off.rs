//! The [`CallMetrics`] of a build without the feature `metrics`: the same
//! names as `counted.rs`, counting nothing.

use std::time::Duration;

use super::Outcome;
use crate::metrics::Gauge;

/// The proxy's metrics when nothing is counted.
pub(in crate::proxy) struct CallMetrics {
    pub(in crate::proxy) in_flight: Gauge,
}

impl CallMetrics {
    pub(in crate::proxy) fn new() -> Self {
        Self {
            in_flight: Gauge::default(),
        }
    }

    /// Nothing.
    #[inline]
    pub(in crate::proxy) fn record(&self, _call: &str, _outcome: Outcome, _took: Duration) {}

    /// Empty: nothing is counted.
    pub(in crate::proxy) fn text(&self) -> String {
        String::new()
    }
}
