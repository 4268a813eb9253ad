//! [`Metrics`]: what a hub counts, served as Prometheus text by
//! `GET /metrics`. Every name starts with `tabhub_`; docs/metrics.md lists
//! them. Shared (`Arc`) by the hub, its routes, tabs, sessions and the
//! commit thread's store.
//!
//! Two implementations with the same names, chosen by the crate feature
//! `metrics` (default), so no call site needs a `cfg`:
//!
//! - `counted.rs` (with `metrics`): a Prometheus registry per hub.
//! - `off.rs` (without): every counter, gauge and histogram is
//!   `Uncounted`, a type of size zero whose methods do nothing, and
//!   [`Metrics::text`] is empty; the `prometheus` crate is not built.
//!
//! Below the actors and the store, above the wire: it counts refusals by
//! the protocol's `Reason` and joins by their `Resume`.

#[cfg(feature = "metrics")]
mod counted;
#[cfg(not(feature = "metrics"))]
mod off;

#[cfg(feature = "metrics")]
pub(crate) use counted::Metrics;
#[cfg(not(feature = "metrics"))]
pub(crate) use off::Metrics;
// The app proxy's calls in flight (feature `proxy`).
#[cfg(all(not(feature = "metrics"), feature = "proxy"))]
pub(crate) use off::Gauge;
