//! Watching the service from outside: `GET /metrics` (Prometheus text),
//! `GET /healthz` (ok, draining, or unhealthy when the store cannot
//! commit or its backend cannot be reached), and [`MeteredLog`], which times the commit thread's writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ids::SessionKey;
use crate::metrics::Metrics;
use crate::store::committer::Committer;
use crate::store::{LoggedSession, SessionStore, Step, StepLog, StoreError};
use crate::supervisor::Stats;
use actix::{MailboxError, Recipient};
use actix_web::{web, HttpResponse};

/// How long a scrape waits for the supervisor's counts.
const STATS_WAIT: Duration = Duration::from_secs(1);

/// What a [`crate::Hub`] says about its health (`GET /healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Serving: HTTP 200 `{"status": "ok"}`.
    Ok,
    /// [`crate::Hub::shutdown`] has begun: HTTP 503
    /// `{"status": "draining"}`, so a load balancer sends no new clients.
    Draining,
    /// The store cannot commit: the latest write failed for every step it
    /// carried (a full or failed disk). HTTP 503
    /// `{"status": "unhealthy", "reason": "store"}`. Healthy again after
    /// the next write that succeeds.
    StoreFailing,
    /// The store's backend cannot be reached (`"redis"`): HTTP 503
    /// `{"status": "unhealthy", "reason": "redis"}`. Healthy again once
    /// it answers ([`SessionStore::unreachable`]).
    Unreachable(&'static str),
}

/// What the health check and the metrics read; one per hub.
pub(crate) struct Observe {
    pub(crate) metrics: Arc<Metrics>,
    /// The supervisor's registry counts, for the gauges.
    pub(crate) stats: Recipient<Stats>,
    /// The commit thread of a durable store.
    pub(crate) committer: Option<Committer>,
    /// The store, for its reachability and its own metrics.
    pub(crate) store: Arc<dyn SessionStore>,
    /// The node's traffic with other nodes, with a shared store.
    pub(crate) cluster: Option<Arc<crate::cluster::ClusterStats>>,
    /// Set when [`crate::Hub::shutdown`] begins; never cleared.
    pub(crate) draining: AtomicBool,
    /// The app's own metrics text ([`crate::App::metrics_text`]).
    pub(crate) app_metrics: Box<dyn Fn() -> String + Send + Sync>,
}

impl Observe {
    /// Whether the store cannot commit now.
    pub(crate) fn store_failing(&self) -> bool {
        self.committer.as_ref().is_some_and(Committer::failing)
    }

    pub(crate) fn health(&self) -> Health {
        if self.draining.load(Ordering::Acquire) {
            Health::Draining
        } else if let Some(backend) = self.store.unreachable() {
            Health::Unreachable(backend)
        } else if self.store_failing() {
            Health::StoreFailing
        } else {
            Health::Ok
        }
    }

    /// The metrics in Prometheus' text format, with the registry's gauges
    /// (sessions, connections, tabs, summary joins) read from the
    /// supervisor now. Once the supervisor has stopped they read 0; if it
    /// does not answer within a second they keep their last values.
    /// Without the feature `metrics`: empty, and nothing is asked of the
    /// supervisor, the store or the app.
    pub(crate) async fn metrics_text(&self) -> String {
        if !cfg!(feature = "metrics") {
            return String::new();
        }
        let m = &self.metrics;
        match tokio::time::timeout(STATS_WAIT, self.stats.send(Stats)).await {
            Ok(Ok(stats)) => {
                m.sessions_live.set(gauge(stats.sessions));
                m.connections_open.set(gauge(stats.connections));
                m.tabs_connected.set(gauge(stats.tabs));
                m.summary_joins.set(gauge(stats.summary_joins));
            }
            Ok(Err(MailboxError::Closed)) => {
                for g in [
                    &m.sessions_live,
                    &m.connections_open,
                    &m.tabs_connected,
                    &m.summary_joins,
                ] {
                    g.set(0);
                }
            }
            Ok(Err(MailboxError::Timeout)) | Err(_) => {
                tracing::warn!(
                    "the supervisor did not answer in time; metrics keep their last counts"
                );
            }
        }
        let mut text = m.text();
        text.push_str(&self.store.metrics_text());
        if let Some(cluster) = &self.cluster {
            text.push_str(&cluster.text());
        }
        text.push_str(&(self.app_metrics)());
        text
    }
}

fn gauge(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// `GET /metrics`: every metric of the hub, Prometheus text format 0.0.4.
pub(super) async fn metrics(observe: web::Data<Observe>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(observe.metrics_text().await)
}

/// `GET /healthz`: 200 `{"status": "ok"}`, or 503 while draining or while
/// the store cannot commit (see [`Health`]).
pub(super) async fn healthz(observe: web::Data<Observe>) -> HttpResponse {
    match observe.health() {
        Health::Ok => HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })),
        Health::Draining => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "draining" }))
        }
        Health::StoreFailing => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "unhealthy", "reason": "store" })),
        Health::Unreachable(backend) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "unhealthy", "reason": backend })),
    }
}

/// `GET /livez`: the process answers HTTP (see `Routes::livez_path`).
pub(super) async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "alive" }))
}

/// The store's step log as the commit thread sees it: each
/// [`StepLog::append`] (a group commit, a retry, or a re-write of one
/// session's steps after a failed batch) goes to the store's own log
/// ([`SessionStore::step_log`]) and is timed and counted
/// (`tabhub_commit_seconds`, `tabhub_commit_batch_steps`,
/// `tabhub_commits_total`).
pub(crate) struct MeteredLog {
    /// A store whose [`SessionStore::step_log`] is `Some` (the hub starts
    /// the commit thread only then).
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) metrics: Arc<Metrics>,
}

impl MeteredLog {
    fn log(&self) -> Result<&dyn StepLog, StoreError> {
        self.store
            .step_log()
            .ok_or_else(|| StoreError::unsupported("the store no longer offers a step log"))
    }
}

impl StepLog for MeteredLog {
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.log().and_then(|log| log.append(steps));
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.committed(steps.len(), seconds, result.is_ok());
        result
    }

    fn load_steps(&self, key: &SessionKey) -> Result<Option<LoggedSession>, StoreError> {
        self.log()?.load_steps(key)
    }

    fn probe(&self) -> Option<Result<(), StoreError>> {
        self.log().ok()?.probe()
    }
}
