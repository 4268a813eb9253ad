//! The app proxy: an [`App`] whose logic lives in another process, behind
//! an HTTP URL (`tabhub --app-url URL`), in any language. tabhub keeps the
//! session (one queue, deltas, replay, chains, the elected tab,
//! durability); for each event the session asks the backend what it does
//! (`POST URL/event`), and joins, new keys and cancels are asked or told
//! too. The backend drives tabhub back through the server API
//! ([`crate::Api`]). `docs/app-proxy.md` is the contract; the shape is
//! Centrifugo's proxy.
//!
//! - `wire.rs`: the calls' and answers' shapes.
//! - `client.rs`: the HTTP client (pool, deadline) and how a failed call
//!   becomes an event's error.
//! - `turns.rs`: the bounds on calls in flight: calls tabs cause and calls
//!   server code causes take turns apart (so a backend may call the API
//!   for another session from inside a call), fairly by session.
//! - `answer.rs`: what an answer does to the session.
//! - `tasks.rs`: the backend's background tasks as tabhub records them,
//!   and their idle limit.
//! - `tls.rs`: TLS to an `https://` backend, and the extra roots of
//!   `--app-ca-file`.
//! - `metrics/`: the calls counted, for `GET /metrics` (feature `metrics`).

mod answer;
mod client;
mod metrics;
mod tasks;
mod tls;
mod turns;
mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::app::{App, AppError, ConnectRefusal, Context, DecodeError, JoinRequest, TaskEnd};
use crate::ids::SessionKey;
use answer::Scope;
use client::Backend;
pub use tls::{CaFileError, ExtraRoots};
use turns::{Caller, Cause};

/// Where the backend is and how tabhub calls it (`--app-*` flags).
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The backend's base URL: calls go to `URL/event`, `URL/join`,
    /// `URL/initial_state`, `URL/cancel`.
    pub url: String,
    /// Deadline of one call, from waiting for a turn to the answer's last
    /// byte. Keep it under [`crate::Config::handler_timeout`].
    pub timeout: Duration,
    /// Calls in flight at once over every session, in each of two bounds:
    /// calls tabs cause (their events, joins) and calls server code causes
    /// (API events, loads, cancels). A session holds at most half of a
    /// bound's turns. Each thread's connection pool holds twice this.
    pub max_concurrency: usize,
    /// Largest answer accepted, in bytes.
    pub max_answer_bytes: usize,
    /// Upgrade request headers passed to `URL/join` and with each of the
    /// connection's events, lower-case names.
    pub forward_headers: Vec<String>,
    /// Whether `URL/join` and events get the connection's peer address.
    pub forward_peer: bool,
    /// Reverse proxies whose forwarded headers name the client
    /// (`Config::trusted_proxies`, `--trusted-proxy`): behind one, the
    /// forwarded peer is the client's address (no port) from them.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether `URL/event` and `URL/cancel` carry the state.
    pub send_state: bool,
    /// Sent as `Authorization: Bearer TOKEN` with every call.
    pub token: Option<String>,
    /// A backend task with no push for this long (no progress, no end)
    /// fails with "no word from the backend"; `None`: never.
    pub task_idle: Option<Duration>,
    /// Certificate authorities trusted for an `https://` URL besides
    /// Mozilla's roots (`--app-ca-file`).
    pub extra_roots: ExtraRoots,
}

impl ProxyConfig {
    /// The defaults of the `--app-*` flags for a backend at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_millis(5_000),
            max_concurrency: 64,
            max_answer_bytes: 8 * 1024 * 1024,
            forward_headers: Vec::new(),
            forward_peer: false,
            trusted_proxies: Vec::new(),
            send_state: true,
            token: None,
            task_idle: Some(Duration::from_millis(300_000)),
            extra_roots: ExtraRoots::default(),
        }
    }
}

/// The app proxy. Start it with [`crate::Hub::start`] like any app.
pub struct Proxy {
    backend: Backend,
    tasks: tasks::RemoteTasks,
    forward_headers: Vec<String>,
    forward_peer: bool,
    trusted_proxies: Vec<ipnet::IpNet>,
    send_state: bool,
}

impl Proxy {
    /// An app proxy for the backend `config` describes.
    pub fn new(config: ProxyConfig) -> Self {
        let forward_headers = config
            .forward_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        Self {
            backend: Backend::new(
                &config.url,
                config.timeout,
                config.max_concurrency,
                config.max_answer_bytes,
                config.token,
            )
            .trusting(&config.extra_roots),
            tasks: tasks::RemoteTasks::new(config.task_idle),
            forward_headers,
            forward_peer: config.forward_peer,
            trusted_proxies: config.trusted_proxies,
            send_state: config.send_state,
        }
    }
}

/// A session's state under the proxy: whatever JSON the backend keeps
/// there (`{}` for a new key unless `URL/initial_state` says otherwise).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProxyState(pub Value);

impl Default for ProxyState {
    fn default() -> Self {
        Self(Value::Object(Map::new()))
    }
}

/// An event under the proxy: any name, any payload; the backend decides
/// (an unknown name is its `unknown_event`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProxyEvent {
    /// The event's name.
    pub name: String,
    /// Its payload.
    pub payload: Value,
}

/// What `URL/join` learns of a connection: the upgrade request's headers
/// the operator forwards (`--app-forward-header`), lower-case names, and
/// its peer address (`--app-forward-peer`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProxyIdentity {
    /// Forwarded headers by lower-case name; repeated ones joined by `, `.
    pub headers: BTreeMap<String, String>,
    /// `ip:port` of the peer, when forwarded; behind a trusted proxy
    /// (`--trusted-proxy`), the client's `ip` from the proxy's headers.
    pub peer: Option<String>,
}

impl App for Proxy {
    type State = ProxyState;
    type Event = ProxyEvent;
    type Identity = ProxyIdentity;

    async fn handle(
        &self,
        state: &mut ProxyState,
        event: ProxyEvent,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let call = wire::EventCall {
            key: cx.key().as_str(),
            tab_id: cx.tab().map(|t| t.as_str()),
            event: wire::EventBody {
                // Every event has an id (tabs and server code give one).
                id: cx.event_id().unwrap_or_default(),
                name: &event.name,
                payload: &event.payload,
                chain: cx.chain_id(),
            },
            seq: cx.seq(),
            state: self.send_state.then_some(&state.0),
            headers: cx.identity().map(|i| &i.headers).filter(|h| !h.is_empty()),
            peer: cx.identity().and_then(|i| i.peer.as_deref()),
        };
        // An event from server code (the API) may be what a call of another
        // session waits for: it takes its turn from the server bound.
        let caller = Caller {
            key: cx.key().as_str(),
            cause: if cx.tab().is_some() {
                Cause::Tab
            } else {
                Cause::Server
            },
        };
        let answer: wire::Answer = self
            .backend
            .call_required(caller, "event", &call)
            .await
            .map_err(|e| {
                // In the session's span: the log names its short key.
                tracing::warn!(error = %e, "the backend's event call failed");
                e.into_app_error("event")
            })?;
        answer::apply(answer, Scope::Event, state, cx, &self.tasks)
    }

    fn decode(&self, name: &str, payload: Value) -> Result<ProxyEvent, DecodeError> {
        Ok(ProxyEvent {
            name: name.to_owned(),
            payload,
        })
    }

    async fn connect(
        &self,
        request: &actix_web::HttpRequest,
    ) -> Result<ProxyIdentity, ConnectRefusal> {
        let mut headers = BTreeMap::new();
        for name in &self.forward_headers {
            let values: Vec<&str> = request
                .headers()
                .get_all(name.as_str())
                .filter_map(|v| v.to_str().ok())
                .collect();
            if !values.is_empty() {
                headers.insert(name.clone(), values.join(", "));
            }
        }
        let peer = self
            .forward_peer
            .then(|| {
                let tcp = request.peer_addr()?;
                let client = crate::tab::client_ip(request, &self.trusted_proxies)?;
                Some(if client == tcp.ip() {
                    tcp.to_string()
                } else {
                    client.to_string()
                })
            })
            .flatten();
        Ok(ProxyIdentity { headers, peer })
    }

    /// `{"allow": false}` is the backend's final answer (`unauthorized`);
    /// a call that gave no answer of that shape (no connection, no answer
    /// in time, any error status, a malformed body) decided nothing, so
    /// the tab gets `unavailable` and rejoins with its backoff: a backend
    /// restart never closes tabs for good.
    async fn authorize(
        &self,
        join: &JoinRequest<'_, ProxyIdentity>,
    ) -> Result<(), crate::app::AuthorizeError> {
        let call = wire::JoinCall {
            key: join.key.as_str(),
            tab_id: join.tab_id.as_str(),
            params: join.params,
            connect_params: join.connect_params,
            headers: &join.identity.headers,
            peer: join.identity.peer.as_deref(),
        };
        let caller = Caller {
            key: join.key.as_str(),
            cause: Cause::Tab,
        };
        match self
            .backend
            .call_required::<wire::JoinAnswer>(caller, "join", &call)
            .await
        {
            Ok(answer) if answer.allow => Ok(()),
            Ok(answer) => Err(crate::app::AuthorizeError::Refused(
                answer
                    .message
                    .unwrap_or_else(|| "the backend refused the join".to_owned()),
            )),
            Err(e) => Err(crate::app::AuthorizeError::Unavailable(format!(
                "the backend's join failed: {e}"
            ))),
        }
    }

    async fn initial_state(&self, key: &SessionKey) -> Result<ProxyState, AppError> {
        let call = wire::InitialStateCall { key: key.as_str() };
        // A load may be what an API call waits for: the server bound.
        let caller = Caller {
            key: key.as_str(),
            cause: Cause::Server,
        };
        match self
            .backend
            .call::<wire::InitialStateAnswer>(caller, "initial_state", &call)
            .await
        {
            Ok(Some(answer)) => answer::initial(answer.state),
            Ok(None) => Ok(ProxyState::default()),
            Err(e) => {
                tracing::warn!(error = %e, "the backend's initial_state call failed");
                Err(e.into_app_error("initial_state"))
            }
        }
    }

    /// `tabhub_backend_calls_total`, `tabhub_backend_call_seconds` and
    /// `tabhub_backend_calls_in_flight` (see docs/metrics.md).
    fn metrics_text(&self) -> String {
        self.backend.metrics.text()
    }

    /// The backend pushed progress of `task`: it is alive (the idle limit
    /// starts again).
    fn task_pushed(&self, key: &SessionKey, task: &str) {
        self.tasks.heard(key, task);
    }

    /// A task the backend runs is running again after a restart of tabhub:
    /// its record is restored, and the backend's progress still counts.
    async fn restart_task(
        &self,
        _state: &mut ProxyState,
        key: &str,
        _input: Value,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        self.tasks.start(cx, key)
    }

    /// Tells the backend that a task was cancelled (`POST URL/cancel`), off
    /// the session's queue; its answer's change is applied when it comes.
    fn task_ended(
        &self,
        state: &mut ProxyState,
        task: &str,
        end: &TaskEnd,
        cx: &mut Context<'_, Self>,
    ) {
        if *end != TaskEnd::Cancelled {
            return;
        }
        let backend = self.backend.clone();
        let tasks = self.tasks.clone();
        let key = cx.key().clone();
        let task = task.to_owned();
        let seq = cx.seq();
        let sent_state = self.send_state.then(|| state.0.clone());
        cx.follow_up(Box::pin(async move {
            let call = wire::CancelCall {
                key: key.as_str(),
                task: &task,
                seq,
                state: sent_state.as_ref(),
            };
            // A cancel ends a task the backend started: the server bound.
            let caller = Caller {
                key: key.as_str(),
                cause: Cause::Server,
            };
            match backend.call::<wire::Answer>(caller, "cancel", &call).await {
                Ok(Some(answer)) => Some(Box::new(
                    move |state: &mut ProxyState, cx: &mut Context<'_, Proxy>| {
                        answer::apply(answer, Scope::Cancel, state, cx, &tasks)
                    },
                ) as crate::app::TaskUpdateFn<Proxy>),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(key = %key, task, error = %e, "the backend's cancel failed");
                    None
                }
            }
        }));
    }
}
