//! The app proxy: an [`App`] whose logic lives in another process, behind
//! an HTTP URL (`tabhub --app-url URL`), in any language. tabhub keeps the
//! session (one queue, deltas, replay, chains, the elected tab,
//! durability); for each event the session asks the backend what it does
//! (`POST URL/event`), and joins, new keys, cancels and (if asked)
//! presence changes are asked or told too. The backend drives tabhub back through the server API
//! ([`crate::Api`]). `docs/app-proxy.md` is the contract; the shape is
//! Centrifugo's proxy.
//!
//! - `config.rs`: where the backend is and how it is called (`--app-*`).
//! - `wire.rs`: the calls' and answers' shapes.
//! - `client.rs`: the HTTP client (pool, deadline) and how a failed call
//!   becomes an event's error.
//! - `turns.rs`: the bounds on calls in flight: calls tabs cause and calls
//!   server code causes take turns apart (so a backend may call the API
//!   for another session from inside a call), fairly by session.
//! - `answer.rs`: what an answer does to the session.
//! - `presence.rs`: tabs joining, leaving, shown or hidden, told to the
//!   backend (`--app-presence`).
//! - `tasks.rs`: the backend's background tasks as tabhub records them,
//!   and their idle limit.
//! - `tls.rs`: TLS to an `https://` backend, and the extra roots of
//!   `--app-ca-file`.
//! - `metrics/`: the calls counted, for `GET /metrics` (feature `metrics`).

mod answer;
mod client;
mod config;
mod metrics;
mod presence;
mod tasks;
mod tls;
mod turns;
mod wire;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::app::{App, AppError, ConnectRefusal, Context, DecodeError, JoinRequest, TaskEnd};
use crate::ids::SessionKey;
use answer::Scope;
use client::Backend;
pub use config::ProxyConfig;
pub use tls::{CaFileError, ExtraRoots};
use turns::{Caller, Cause};

/// The app proxy. Start it with [`crate::Hub::start`] like any app.
pub struct Proxy {
    backend: Backend,
    tasks: tasks::RemoteTasks,
    forward_headers: Vec<String>,
    forward_peer: bool,
    trusted_proxies: Vec<ipnet::IpNet>,
    send_state: bool,
    presence: bool,
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
            presence: config.presence,
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

    fn tracks_presence(&self) -> bool {
        self.presence
    }

    /// `POST URL/presence`, whatever the change.
    async fn presence_changed(
        &self,
        state: &mut ProxyState,
        presence: &crate::app::Presence<ProxyIdentity>,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        presence::tell(self, state, presence, cx).await
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
