//! The counting [`CallMetrics`] (feature `metrics`): a Prometheus
//! registry of the proxy's own. Every label pair is resolved once, at
//! start, so counting is one atomic add.

use std::time::Duration;

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Opts, Registry};

use super::Outcome;

/// The calls the proxy makes, in label order.
const CALLS: [&str; 4] = ["event", "join", "initial_state", "cancel"];

/// Each outcome's label.
const OUTCOMES: [(Outcome, &str); 6] = [
    (Outcome::Ok, "ok"),
    (Outcome::NotFound, "not_found"),
    (Outcome::Timeout, "timeout"),
    (Outcome::Unavailable, "unavailable"),
    (Outcome::Status, "status"),
    (Outcome::Invalid, "invalid"),
];

/// Bounds of `tabhub_backend_call_seconds` (500 µs to 30 s).
const CALL_SECONDS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0,
];

/// The proxy's metrics.
pub(in crate::proxy) struct CallMetrics {
    registry: Registry,
    /// `[call][outcome]`.
    calls: Vec<Vec<IntCounter>>,
    seconds: Vec<Histogram>,
    pub(in crate::proxy) in_flight: IntGauge,
}

impl CallMetrics {
    pub(in crate::proxy) fn new() -> Self {
        let registry = Registry::new();
        let calls = prometheus::IntCounterVec::new(
            Opts::new(
                "tabhub_backend_calls_total",
                "Calls to the app proxy's backend, by call and outcome.",
            ),
            &["call", "outcome"],
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        let seconds = prometheus::HistogramVec::new(
            HistogramOpts::new(
                "tabhub_backend_call_seconds",
                "Time of one call to the backend, waiting for a turn included.",
            )
            .buckets(CALL_SECONDS.to_vec()),
            &["call"],
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        let in_flight = IntGauge::new(
            "tabhub_backend_calls_in_flight",
            "Calls to the backend holding a turn now.",
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        for collector in [
            Box::new(calls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(seconds.clone()),
            Box::new(in_flight.clone()),
        ] {
            registry
                .register(collector)
                .unwrap_or_else(|e| unreachable_metric(e));
        }
        Self {
            calls: CALLS
                .iter()
                .map(|call| {
                    OUTCOMES
                        .iter()
                        .map(|(_, outcome)| calls.with_label_values(&[call, outcome]))
                        .collect()
                })
                .collect(),
            seconds: CALLS
                .iter()
                .map(|call| seconds.with_label_values(&[call]))
                .collect(),
            in_flight,
            registry,
        }
    }

    /// Counts one call to `call` (an entry of [`CALLS`]) that took `took`.
    pub(in crate::proxy) fn record(&self, call: &str, outcome: Outcome, took: Duration) {
        let Some(c) = CALLS.iter().position(|x| *x == call) else {
            return;
        };
        let o = OUTCOMES
            .iter()
            .position(|(x, _)| *x == outcome)
            .unwrap_or_default();
        self.calls[c][o].inc();
        self.seconds[c].observe(took.as_secs_f64());
    }

    /// Prometheus text of every metric here.
    pub(in crate::proxy) fn text(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "could not encode the proxy's metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The metrics here are fixed at compile time; prometheus refusing one is
/// a bug in this module, found by any test that starts a proxy.
fn unreachable_metric(e: prometheus::Error) -> ! {
    panic!("the app proxy's metrics are invalid: {e}")
}
