//! What the app proxy counts of its backend calls, in a Prometheus
//! registry of its own (appended to `GET /metrics` through
//! [`crate::App::metrics_text`]):
//!
//! - `tabhub_backend_calls_total{call, outcome}`: calls by `call` (`event`,
//!   `join`, `initial_state`, `cancel`) and `outcome` (`ok`, `not_found`,
//!   `timeout`, `unavailable`, `status`, `invalid`).
//! - `tabhub_backend_call_seconds{call}`: each call's time, from asking
//!   for a turn to the answer's last byte (or the failure).
//! - `tabhub_backend_calls_in_flight`: calls holding a turn now.
//!
//! Two implementations with the same names, chosen by the crate feature
//! `metrics` (default): `counted.rs` counts in a Prometheus registry;
//! `off.rs` counts nothing and its text is empty.

#[cfg(feature = "metrics")]
mod counted;
#[cfg(not(feature = "metrics"))]
mod off;

#[cfg(feature = "metrics")]
pub(super) use counted::CallMetrics;
#[cfg(not(feature = "metrics"))]
pub(super) use off::CallMetrics;

/// How a call ended, in label order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Ok,
    NotFound,
    Timeout,
    Unavailable,
    Status,
    Invalid,
}
