//! Watching the service from outside: `GET /metrics` (Prometheus text),
//! `GET /healthz` (ok, draining, or unhealthy when the store cannot
//! commit), and [`MeteredStore`], which times the commit thread's writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::{MailboxError, Recipient};
use actix_web::{web, HttpResponse};
use serde_json::Value;

use crate::ids::SessionKey;
use crate::metrics::Metrics;
use crate::store::committer::Committer;
use crate::store::{SavedSession, Step, Store, StoreError};
use crate::supervisor::Stats;

/// How long a scrape waits for the supervisor's counts.
const STATS_WAIT: Duration = Duration::from_secs(1);

/// What a [`crate::Hub`] says about its health (`GET /healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// What the health check and the metrics read; one per hub.
pub(crate) struct Observe {
    pub(crate) metrics: Arc<Metrics>,
    /// The supervisor's registry counts, for the gauges.
    pub(crate) stats: Recipient<Stats>,
    /// The commit thread of a durable store.
    pub(crate) committer: Option<Committer>,
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
    pub(crate) async fn metrics_text(&self) -> String {
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
    }
}

/// The store as the commit thread sees it: every call goes to the inner
/// store unchanged, and each [`Store::append`] (a group commit, a retry,
/// or a re-write of one session's steps after a failed batch) is timed
/// and counted (`tabhub_commit_seconds`, `tabhub_commit_batch_steps`,
/// `tabhub_commits_total`).
///
/// It forwards every method of [`Store`], defaults included, so the inner
/// store's own versions run: a method added to the trait must be added
/// here too.
pub(crate) struct MeteredStore {
    pub(crate) inner: Arc<dyn Store>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Store for MeteredStore {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.inner.save(key, session)
    }
    fn load_summary(&self, key: &SessionKey) -> Result<Option<Value>, StoreError> {
        self.inner.load_summary(key)
    }
    fn sessions_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        self.inner.sessions_with_tasks()
    }
    fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.inner.delete(key)
    }
    fn touch(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.inner.touch(key)
    }
    fn idle_before(&self, cutoff: SystemTime, limit: usize) -> Result<Vec<SessionKey>, StoreError> {
        self.inner.idle_before(cutoff, limit)
    }
    fn delete_if_idle(&self, key: &SessionKey, cutoff: SystemTime) -> Result<bool, StoreError> {
        self.inner.delete_if_idle(key, cutoff)
    }
    fn durable(&self) -> bool {
        self.inner.durable()
    }
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.append(steps);
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.committed(steps.len(), seconds, result.is_ok());
        result
    }
}
