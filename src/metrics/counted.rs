//! The counting [`Metrics`] (feature `metrics`): a Prometheus registry per
//! hub, so several hubs in one process never mix their counts.
//!
//! Counting is cheap on the hot path: every label a hot counter can take is
//! resolved once, here, so counting is one atomic add, with no lock and no
//! map lookup. Gauges of what the supervisor's registry holds (sessions,
//! connections, tabs) are read from it when the metrics are scraped.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::protocol::reply::Resume;
use crate::protocol::{ErrorReason, Reason};

/// Why an upgrade to a WebSocket was refused before it happened, with its
/// HTTP status: the `status` and `reason` labels of
/// `tabhub_upgrades_refused_total`.
const UPGRADE_REFUSALS: [(u16, &str); 6] = [
    (400, "bad_request"),
    (401, "unauthenticated"),
    (403, "forbidden"),
    (403, "origin"),
    (429, "conns_per_ip"),
    (503, "no_answer"),
];

/// Bounds of `tabhub_commit_seconds`, in seconds (100 µs to 5 s).
const COMMIT_SECONDS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Bounds of `tabhub_commit_batch_steps`, in steps (1 to 4,096, the
/// committer's largest batch).
const BATCH_STEPS: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// A hub's metrics: typed handles on the counters, gauges and histograms
/// of its own registry. Shared (`Arc`) by the hub, its routes, tabs,
/// sessions and the commit thread's store.
pub(crate) struct Metrics {
    registry: Registry,
    /// Live sessions (started and not yet stopped), read from the
    /// supervisor at each scrape.
    pub(crate) sessions_live: IntGauge,
    /// Open WebSocket connections, read from the supervisor at each scrape.
    pub(crate) connections_open: IntGauge,
    /// Tabs joined in full to live sessions, over all sessions (a page
    /// joined to two sessions counts twice), read at each scrape.
    pub(crate) tabs_connected: IntGauge,
    /// Summary joins, over all keys, read at each scrape.
    pub(crate) summary_joins: IntGauge,
    /// Bytes the journals of live sessions hold (each delta's payload plus
    /// its entry's fixed cost), summed; each journal adds and takes off its
    /// own. What `--journal-total-bytes` bounds.
    pub(crate) journal_bytes: IntGauge,
    /// Deltas the journal budget evicted from journals (a cursor behind
    /// them resumes by snapshot).
    pub(crate) journal_evicted: IntCounter,
    events_ok: IntCounter,
    events_error: IntCounter,
    /// By [`Resume`]: current, replay, snapshot; then summary joins.
    joins: [IntCounter; 4],
    /// By [`Reason`], in the order of [`Reason::ALL`].
    refusals: [IntCounter; Reason::ALL.len()],
    /// Refusals with an app's own reason.
    refusals_app: IntCounter,
    upgrades_refused: IntCounterVec,
    /// `delta` pushes queued for writing to a tab (the fan-out).
    pub(crate) deltas_sent: IntCounter,
    /// Chains put on the wire to a tab (first sends and re-sends).
    pub(crate) chains_dispatched: IntCounter,
    /// Chains handed to the leader because the tab holding them left or
    /// did not re-submit them within the chain timeout.
    pub(crate) chains_reelected: IntCounter,
    /// Pushes (deltas, effects, chains, ...) dropped because a tab's
    /// outbound buffer overflowed: the one that did not fit, and its join's
    /// pushes still queued.
    pub(crate) pushes_dropped: IntCounter,
    /// Effects among [`Metrics::pushes_dropped`]: lost for good (deltas come
    /// back by replay, chains are re-sent; effects are not kept).
    pub(crate) effects_dropped: IntCounter,
    /// Times a push found a tab's outbound buffer full (the join then got
    /// `phx_error`).
    pub(crate) outbound_overflows: IntCounter,
    /// Connections cut (1013) because their socket took no write for the
    /// slow-client timeout after an overflow.
    pub(crate) slow_clients_cut: IntCounter,
    /// Connections the server closed, by close code (1003 binary, 1007
    /// malformed, 1009 too large, 1013 overloaded, 4001 replaced, ...).
    closes: IntCounterVec,
    /// Time of one `StepLog::append` call (a group commit, or a retry), in
    /// seconds.
    pub(crate) commit_seconds: Histogram,
    /// Steps written by one `StepLog::append` call.
    pub(crate) commit_batch_steps: Histogram,
    commits_ok: IntCounter,
    commits_error: IntCounter,
    /// Server API requests answered, by route and HTTP status.
    api_requests: IntCounterVec,
}

impl Metrics {
    /// A fresh registry with every metric at zero. Every label value a
    /// counter can take is listed from the start, so a scrape shows zeros
    /// rather than missing series.
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).unwrap_or_else(|e| bad(name, &e));
            register(&registry, Box::new(g.clone()), name);
            g
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).unwrap_or_else(|e| bad(name, &e));
            register(&registry, Box::new(c.clone()), name);
            c
        };
        let family = |name: &str, help: &str, labels: &[&str]| {
            let v =
                IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| bad(name, &e));
            register(&registry, Box::new(v.clone()), name);
            v
        };
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
            let h = Histogram::with_opts(opts).unwrap_or_else(|e| bad(name, &e));
            register(&registry, Box::new(h.clone()), name);
            h
        };

        let events = family(
            "tabhub_events_total",
            "Answers to `event` pushes from tabs, by outcome (ok or error).",
            &["outcome"],
        );
        let joins = family(
            "tabhub_joins_total",
            "Joins answered ok, by how the tab caught up (current, replay, snapshot) or summary.",
            &["resume"],
        );
        let refusals = family(
            "tabhub_refusals_total",
            "Error replies sent, by reason (an app's own reasons count as `app`).",
            &["reason"],
        );
        let upgrades_refused = family(
            "tabhub_upgrades_refused_total",
            "WebSocket upgrades refused before the upgrade, by HTTP status and why.",
            &["status", "reason"],
        );
        for (status, reason) in UPGRADE_REFUSALS {
            upgrades_refused.with_label_values(&[&status.to_string(), reason]);
        }
        let closes = family(
            "tabhub_closes_total",
            "Connections the server closed, by WebSocket close code.",
            &["code"],
        );
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, 4001,
        ] {
            closes.with_label_values(&[&code.to_string()]);
        }
        let api_requests = family(
            "tabhub_api_requests_total",
            "Server API requests answered, by route and HTTP status.",
            &["route", "status"],
        );
        let commits = family(
            "tabhub_commits_total",
            "StepLog::append calls of the commit thread, by outcome (ok or error).",
            &["outcome"],
        );
        Self {
            sessions_live: gauge("tabhub_sessions_live", "Live sessions."),
            connections_open: gauge("tabhub_connections_open", "Open WebSocket connections."),
            tabs_connected: gauge(
                "tabhub_tabs_connected",
                "Tabs joined in full to live sessions, over all sessions.",
            ),
            summary_joins: gauge("tabhub_summary_joins", "Summary joins, over all keys."),
            journal_bytes: gauge(
                "tabhub_journal_bytes",
                "Bytes the journals of live sessions hold (payloads plus each entry's fixed cost), summed.",
            ),
            journal_evicted: counter(
                "tabhub_journal_evicted_total",
                "Deltas evicted from journals by the journal budget (--journal-total-bytes).",
            ),
            events_ok: events.with_label_values(&["ok"]),
            events_error: events.with_label_values(&["error"]),
            joins: [
                joins.with_label_values(&["current"]),
                joins.with_label_values(&["replay"]),
                joins.with_label_values(&["snapshot"]),
                joins.with_label_values(&["summary"]),
            ],
            refusals: Reason::ALL.map(|r| refusals.with_label_values(&[r.as_str()])),
            refusals_app: refusals.with_label_values(&["app"]),
            upgrades_refused,
            deltas_sent: counter(
                "tabhub_deltas_sent_total",
                "Delta pushes queued for writing to tabs (one per tab per delta).",
            ),
            chains_dispatched: counter(
                "tabhub_chains_dispatched_total",
                "Chains put on the wire to a tab.",
            ),
            chains_reelected: counter(
                "tabhub_chains_reelected_total",
                "Chains handed to the leader after their tab left or timed out.",
            ),
            pushes_dropped: counter(
                "tabhub_pushes_dropped_total",
                "Pushes dropped because a tab's outbound buffer overflowed.",
            ),
            effects_dropped: counter(
                "tabhub_effects_dropped_total",
                "Effects dropped because a tab's outbound buffer overflowed.",
            ),
            outbound_overflows: counter(
                "tabhub_outbound_overflows_total",
                "Pushes that found a tab's outbound buffer full.",
            ),
            closes,
            slow_clients_cut: counter(
                "tabhub_slow_clients_cut_total",
                "Connections cut (1013) for taking no write after an overflow.",
            ),
            commit_seconds: histogram(
                "tabhub_commit_seconds",
                "Time of one group commit (StepLog::append), in seconds.",
                &COMMIT_SECONDS,
            ),
            commit_batch_steps: histogram(
                "tabhub_commit_batch_steps",
                "Steps written by one group commit (StepLog::append).",
                &BATCH_STEPS,
            ),
            commits_ok: commits.with_label_values(&["ok"]),
            commits_error: commits.with_label_values(&["error"]),
            api_requests,
            registry,
        }
    }

    /// Counts the answer to an `event` push.
    pub(crate) fn event(&self, ok: bool) {
        if ok {
            self.events_ok.inc();
        } else {
            self.events_error.inc();
        }
    }

    /// Counts an error reply with a protocol reason.
    pub(crate) fn refused(&self, reason: Reason) {
        if let Some(c) = self.refusals.get(reason as usize) {
            c.inc();
        }
    }

    /// Counts an error reply with a protocol reason or an app's own.
    pub(crate) fn refused_with(&self, reason: &ErrorReason) {
        match reason {
            ErrorReason::Protocol(r) => self.refused(*r),
            ErrorReason::App(_) => self.refusals_app.inc(),
        }
    }

    /// A server API request answered with `status`; `route` is one of a
    /// fixed set: a route's method and path after the key (`POST
    /// /events`), or `other`.
    pub(crate) fn api_request(&self, route: &str, status: u16) {
        self.api_requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
    }

    /// Counts a connection the server closed with `code`.
    pub(crate) fn closed(&self, code: u16) {
        self.closes.with_label_values(&[&code.to_string()]).inc();
    }

    /// Counts a full join answered ok, by how it caught up.
    pub(crate) fn joined(&self, resume: Resume) {
        let i = match resume {
            Resume::Current => 0,
            Resume::Replay => 1,
            Resume::Snapshot => 2,
        };
        self.joins[i].inc();
    }

    /// Counts a summary join answered ok.
    pub(crate) fn summary_joined(&self) {
        self.joins[3].inc();
    }

    /// Counts an upgrade refused before it happened: one of
    /// [`UPGRADE_REFUSALS`].
    pub(crate) fn upgrade_refused(&self, status: u16, reason: &str) {
        self.upgrades_refused
            .with_label_values(&[&status.to_string(), reason])
            .inc();
    }

    /// Counts one `StepLog::append` call of `steps` steps that took
    /// `seconds`.
    pub(crate) fn committed(&self, steps: usize, seconds: f64, ok: bool) {
        self.commit_seconds.observe(seconds);
        // Steps per batch are at most a few thousand: exact as f64.
        self.commit_batch_steps.observe(steps as f64);
        if ok {
            self.commits_ok.inc();
        } else {
            self.commits_error.inc();
        }
    }

    /// Everything, in Prometheus' text format (version 0.0.4).
    pub(crate) fn text(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "could not encode the metrics");
        }
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A metric this module defines was refused by prometheus: a bug here
/// (a malformed name or label), found by the first test that makes one.
fn bad(name: &str, e: &prometheus::Error) -> ! {
    panic!("metric {name} is malformed: {e}")
}

fn register(registry: &Registry, metric: Box<dyn prometheus::core::Collector>, name: &str) {
    if let Err(e) = registry.register(metric) {
        bad(name, &e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_their_own_counter() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r}");
        }
        let m = Metrics::new();
        m.refused(Reason::QueueFull);
        m.refused(Reason::QueueFull);
        m.refused(Reason::UnmatchedTopic);
        let text = m.text();
        assert!(
            text.contains("tabhub_refusals_total{reason=\"queue_full\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("tabhub_refusals_total{reason=\"unmatched topic\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tabhub_refusals_total{reason=\"capacity\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn two_hubs_count_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.event(true);
        a.joined(Resume::Replay);
        assert!(a.text().contains("tabhub_events_total{outcome=\"ok\"} 1"));
        assert!(b.text().contains("tabhub_events_total{outcome=\"ok\"} 0"));
        assert!(b.text().contains("tabhub_joins_total{resume=\"replay\"} 0"));
    }
}
