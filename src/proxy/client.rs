//! The HTTP client of the app proxy: one keep-alive pool per thread (awc,
//! actix's own client, whose connections belong to the thread that opened
//! them), the bounds on calls in flight over every thread (`turns.rs`:
//! tab calls and server calls apart, fair per session), and one deadline
//! per call covering the wait for a turn, the request and the whole answer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::metrics::{CallMetrics, Outcome};
use super::turns::{Caller, Turns};
use super::wire::Object;
use crate::app::AppError;
use actix_web::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How long an idle connection is kept for reuse. awc skips a pooled
/// connection the backend has closed (it peeks before reuse); staying
/// below the idle timeouts of common servers (uvicorn and Node.js close
/// after 5 s) also avoids one whose close is still on its way.
const IDLE_KEEP_ALIVE: Duration = Duration::from_secs(4);

/// Why a call to the backend gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CallError {
    /// No complete answer within the deadline.
    Timeout,
    /// The backend could not be reached, or the connection broke.
    Unavailable(String),
    /// A status other than 2xx, with the start of its body.
    Status(u16, String),
    /// A 2xx answer that is not what the call expects.
    Invalid(String),
}

impl CallError {
    /// The event's error reply for a call that failed
    /// (`docs/app-proxy.md`, "When the call itself fails").
    pub(super) fn into_app_error(self, call: &str) -> AppError {
        match self {
            CallError::Timeout => {
                AppError::refuse("backend_timeout", format!("the backend's {call} timed out"))
            }
            CallError::Unavailable(why) => AppError::refuse(
                "backend_unavailable",
                format!("the backend's {call} could not be reached: {why}"),
            ),
            // The body stays in the log (this error's Display): it may
            // hold a stack trace or SQL, not for browsers.
            CallError::Status(status, _body) => AppError::refuse(
                "backend_error",
                format!("the backend answered {call} with HTTP {status}"),
            )
            .with_data(serde_json::json!({ "status": status })),
            CallError::Invalid(why) => AppError::refuse(
                "backend_invalid_answer",
                format!("the backend's answer to {call} is not valid: {why}"),
            ),
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Timeout => f.write_str("no answer in time"),
            CallError::Unavailable(why) => write!(f, "unreachable: {why}"),
            CallError::Status(status, body) => write!(f, "HTTP {status}: {body}"),
            CallError::Invalid(why) => write!(f, "invalid answer: {why}"),
        }
    }
}

/// The reasons of [`CallError::into_app_error`]: tabhub's own, for
/// faults it saw, so never a backend's refusal (`answer.rs`).
pub(super) const CALL_FAILURE_REASONS: [&str; 4] = [
    "backend_timeout",
    "backend_unavailable",
    "backend_error",
    "backend_invalid_answer",
];

/// How much of an error answer's body is quoted in the log, in bytes.
const QUOTED_BODY_BYTES: usize = 200;

/// Tells the pools of different backends apart on a thread.
static NEXT_BACKEND: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's client (and so its pool) for each backend.
    static CLIENTS: RefCell<HashMap<usize, awc::Client>> = RefCell::new(HashMap::new());
}

/// One backend: where it is, and the bounds on calling it. Clones share
/// the bound and the pools.
#[derive(Clone)]
pub(super) struct Backend {
    id: usize,
    base: String,
    timeout: Duration,
    max_answer_bytes: usize,
    /// Connections per thread's pool: room for both bounds' calls, so no
    /// call waits for a connection that another bound's calls hold.
    pool: usize,
    /// A turn per call in flight, over every thread.
    turns: Turns,
    token: Option<String>,
    /// TLS for an `https://` base (`tls.rs`).
    tls: Arc<rustls::ClientConfig>,
    pub(super) metrics: Arc<CallMetrics>,
}

/// Counts a call in flight while it holds its turn.
struct InFlight<'a>(&'a CallMetrics);

impl<'a> InFlight<'a> {
    fn new(metrics: &'a CallMetrics) -> Self {
        metrics.in_flight.inc();
        Self(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

impl Backend {
    /// A backend at `base` (calls go to `base/event`, ...).
    pub(super) fn new(
        base: &str,
        timeout: Duration,
        max_concurrency: usize,
        max_answer_bytes: usize,
        token: Option<String>,
    ) -> Self {
        Self {
            id: NEXT_BACKEND.fetch_add(1, Ordering::Relaxed),
            base: base.trim_end_matches('/').to_owned(),
            timeout,
            max_answer_bytes,
            pool: 2 * max_concurrency.max(1),
            turns: Turns::new(max_concurrency),
            token,
            tls: super::tls::client_config(&super::tls::ExtraRoots::default()),
            metrics: Arc::new(CallMetrics::new()),
        }
    }

    /// Trusts `extra` for an `https://` base, besides Mozilla's roots.
    pub(super) fn trusting(mut self, extra: &super::tls::ExtraRoots) -> Self {
        self.tls = super::tls::client_config(extra);
        self
    }

    fn client(&self) -> awc::Client {
        CLIENTS.with(|clients| {
            clients
                .borrow_mut()
                .entry(self.id)
                .or_insert_with(|| {
                    let connector = awc::Connector::new()
                        .limit(self.pool)
                        .conn_keep_alive(IDLE_KEEP_ALIVE)
                        .timeout(self.timeout)
                        .rustls_0_23(self.tls.clone());
                    awc::Client::builder()
                        .connector(connector)
                        .timeout(self.timeout)
                        .disable_redirects()
                        .finish()
                })
                .clone()
        })
    }

    /// `POST base/path` with `body` as JSON for `caller`: the status and
    /// the answer's bytes, within the deadline.
    async fn post(
        &self,
        caller: Caller<'_>,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(StatusCode, actix_web::web::Bytes), CallError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| CallError::Invalid(format!("the call did not serialize: {e}")))?;
        let url = format!("{}/{path}", self.base);
        // One span per call (its wait for a turn included), the client
        // side of the backend's trace: with `otel`, its context goes along
        // as `traceparent`.
        let span = tracing::info_span!(
            "backend_call",
            call = path,
            status = tracing::field::Empty,
            otel.kind = "client",
        );
        let call = async {
            let _turn = self.turns.take(caller).await;
            let _counted = InFlight::new(&self.metrics);
            let mut request = self
                .client()
                .post(&url)
                .insert_header(("content-type", "application/json"));
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            #[cfg(feature = "otel")]
            crate::otel::inject_context(request.headers_mut());
            let mut response = request.send_body(bytes).await.map_err(|e| match e {
                awc::error::SendRequestError::Timeout => CallError::Timeout,
                e => CallError::Unavailable(e.to_string()),
            })?;
            let status = response.status();
            tracing::Span::current().record("status", status.as_u16());
            let answer =
                response
                    .body()
                    .limit(self.max_answer_bytes)
                    .await
                    .map_err(|e| match e {
                        awc::error::PayloadError::Overflow => {
                            CallError::Invalid(format!("over {} bytes", self.max_answer_bytes))
                        }
                        e => CallError::Unavailable(e.to_string()),
                    })?;
            Ok((status, answer))
        };
        let call = tracing::Instrument::instrument(call, span);
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| CallError::Timeout)?
    }

    /// `POST base/path` for `caller`, expecting a 2xx JSON answer of type
    /// `T`; `Ok(None)` for a 404 (a call the backend does not implement).
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        caller: Caller<'_>,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Option<T>, CallError> {
        let started = std::time::Instant::now();
        let result = self.call_uncounted(caller, path, body).await;
        let outcome = match &result {
            Ok(Some(_)) => Outcome::Ok,
            Ok(None) => Outcome::NotFound,
            Err(CallError::Timeout) => Outcome::Timeout,
            Err(CallError::Unavailable(_)) => Outcome::Unavailable,
            Err(CallError::Status(..)) => Outcome::Status,
            Err(CallError::Invalid(_)) => Outcome::Invalid,
        };
        self.metrics.record(path, outcome, started.elapsed());
        result
    }

    async fn call_uncounted<T: DeserializeOwned>(
        &self,
        caller: Caller<'_>,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Option<T>, CallError> {
        let (status, answer) = self.post(caller, path, body).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let end = answer.len().min(QUOTED_BODY_BYTES);
            let quoted = String::from_utf8_lossy(&answer[..end]).into_owned();
            return Err(CallError::Status(status.as_u16(), quoted));
        }
        // Every answer is a JSON object (serde's derive would read a struct
        // from an array too, by position).
        serde_json::from_slice::<Object<T>>(&answer)
            .map(|Object(answer)| Some(answer))
            .map_err(|e| CallError::Invalid(e.to_string()))
    }

    /// As [`Backend::call`], where a 404 is an error like any other status.
    pub(super) async fn call_required<T: DeserializeOwned>(
        &self,
        caller: Caller<'_>,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CallError> {
        self.call(caller, path, body)
            .await?
            .ok_or_else(|| CallError::Status(404, format!("no route {path}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failed_calls_reason_is_listed_as_tabhubs_own() {
        let failures = [
            CallError::Timeout,
            CallError::Unavailable("refused".into()),
            CallError::Status(500, "trace".into()),
            CallError::Invalid("not JSON".into()),
        ];
        for failure in failures {
            let reason = failure.into_app_error("event").reason().to_string();
            assert!(CALL_FAILURE_REASONS.contains(&reason.as_str()), "{reason}");
        }
    }
}
