//! What the Redis store counts, for `GET /metrics` and `/healthz`: whether
//! Redis answered the node's latest call, round trips, appended steps, and
//! leases taken, refused, lost and given up.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::store::{StoreCause, StoreError};

/// Counters of one Redis store (one node).
pub(super) struct RedisStats {
    up: AtomicBool,
    round_trips: AtomicU64,
    appends: AtomicU64,
    steps: AtomicU64,
    leases_taken: AtomicU64,
    leases_refused: AtomicU64,
    leases_lost: AtomicU64,
    leases_released: AtomicU64,
    takeovers: AtomicU64,
}

/// What became of a lease, for its counter.
#[derive(Clone, Copy)]
pub(super) enum LeaseEvent {
    Taken,
    Refused,
    Lost,
    Released,
    /// Taken from a node that let it lapse without giving it up.
    TakenOver,
}

impl Default for RedisStats {
    fn default() -> Self {
        Self {
            up: AtomicBool::new(true),
            round_trips: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            steps: AtomicU64::new(0),
            leases_taken: AtomicU64::new(0),
            leases_refused: AtomicU64::new(0),
            leases_lost: AtomicU64::new(0),
            leases_released: AtomicU64::new(0),
            takeovers: AtomicU64::new(0),
        }
    }
}

impl RedisStats {
    /// One round trip ended with `result`: Redis is up unless the call
    /// failed on the way (a script's refusal is an answer).
    pub(super) fn answered<T>(&self, result: &Result<T, StoreError>) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let failed = matches!(result, Err(e) if matches!(e.cause, StoreCause::Backend(_)));
        self.up.store(!failed, Ordering::Relaxed);
    }

    /// Whether Redis answered the latest call (or renewal, or ping).
    pub(super) fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// A group commit of `steps` steps went to Redis.
    pub(super) fn appended(&self, steps: usize) {
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.steps.fetch_add(steps as u64, Ordering::Relaxed);
    }

    pub(super) fn lease(&self, event: LeaseEvent) {
        let counter = match event {
            LeaseEvent::Taken => &self.leases_taken,
            LeaseEvent::Refused => &self.leases_refused,
            LeaseEvent::Lost => &self.leases_lost,
            LeaseEvent::Released => &self.leases_released,
            LeaseEvent::TakenOver => &self.takeovers,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in Prometheus' text format.
    pub(super) fn text(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric(
            "tabhub_redis_up",
            "gauge",
            "Whether Redis answered the node's latest call (1) or not (0).",
            &[("", u64::from(self.up()))],
        );
        metric(
            "tabhub_redis_round_trips_total",
            "counter",
            "Round trips to Redis (a pipeline counts once).",
            &[("", get(&self.round_trips))],
        );
        metric(
            "tabhub_redis_appends_total",
            "counter",
            "Group commits sent to Redis (one pipeline each).",
            &[("", get(&self.appends))],
        );
        metric(
            "tabhub_redis_steps_total",
            "counter",
            "Steps appended to Redis.",
            &[("", get(&self.steps))],
        );
        metric(
            "tabhub_redis_leases_total",
            "counter",
            "Session leases by what became of them.",
            &[
                ("{outcome=\"taken\"}", get(&self.leases_taken)),
                ("{outcome=\"refused\"}", get(&self.leases_refused)),
                ("{outcome=\"lost\"}", get(&self.leases_lost)),
                ("{outcome=\"released\"}", get(&self.leases_released)),
            ],
        );
        metric(
            "tabhub_redis_takeovers_total",
            "counter",
            "Sessions this node took over from a node that let the lease lapse without giving it up (it died, or paused past its lease).",
            &[("", get(&self.takeovers))],
        );
        out
    }
}
