//! [`Routes`]: what a [`super::Hub`] mounts on an actix-web app, and where.
//! By default `GET /socket/websocket` (the WebSocket endpoint),
//! `GET /healthz` and `/readyz` (readiness), `GET /livez` (liveness),
//! `GET /metrics` (Prometheus text; feature `metrics`), and `GET`/`HEAD
//! /tabhub.js` (the JavaScript client, an ES module, revalidated by
//! `ETag`); an app may move any of them and leave out all but the socket
//! (or mount the metrics alone, on a listener of their own).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use actix::{Actor, AsyncContext};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::observe::{self, Observe};
use super::origin::OriginPolicy;
use super::PROTOCOL_VSN;
use crate::app::ConnectRefusal;
use crate::ids::TabId;
use crate::tab::{TabActor, TabShared};

/// The routes of a hub, to adjust and then mount with
/// [`Routes::configure`]:
///
/// ```no_run
/// # use std::sync::Arc;
/// # use actix_web::{App, HttpServer};
/// # use tabhub::{demo::Demo, Config, Hub, MemoryStore};
/// # #[actix_web::main]
/// # async fn main() -> std::io::Result<()> {
/// let hub = Hub::start(Demo::default(), Config::default(), Arc::new(MemoryStore::new()));
/// let routes = hub
///     .routes()
///     .socket_path("/live/websocket")
///     .without_healthz()
///     .configure();
/// HttpServer::new(move || App::new().configure(routes.clone()))
///     .bind(("127.0.0.1", 4000))?
///     .run()
///     .await
/// # }
/// ```
#[derive(Clone)]
pub struct Routes {
    shared: web::Data<TabShared>,
    origins: web::Data<OriginPolicy>,
    observe: web::Data<Observe>,
    socket: Option<String>,
    healthz: Option<String>,
    readyz: Option<String>,
    livez: Option<String>,
    metrics: Option<String>,
    client: Option<String>,
}

impl Routes {
    pub(super) fn new(shared: web::Data<TabShared>, observe: web::Data<Observe>) -> Self {
        let origins = OriginPolicy::from_allowed(&shared.config.allowed_origins);
        Self {
            origins: web::Data::new(origins),
            shared,
            observe,
            socket: Some("/socket/websocket".to_owned()),
            healthz: Some("/healthz".to_owned()),
            readyz: Some("/readyz".to_owned()),
            livez: Some("/livez".to_owned()),
            metrics: Some("/metrics".to_owned()),
            client: Some("/tabhub.js".to_owned()),
        }
    }

    /// Where the WebSocket endpoint is mounted (default
    /// `/socket/websocket`, where Phoenix clients look for a socket
    /// created with `new Socket("/socket")`).
    pub fn socket_path(mut self, path: &str) -> Self {
        self.socket = Some(path.to_owned());
        self
    }

    /// Only `GET /metrics` (or where [`Routes::metrics_path`] put it): for a
    /// listener of its own that need not face the internet (the binary's
    /// `--metrics-bind`). Mount the other routes `.without_metrics()`.
    pub fn metrics_only(mut self) -> Self {
        self.socket = None;
        self.client = None;
        self.without_healthz()
    }

    /// Where the metrics (Prometheus text format, every name prefixed
    /// `tabhub_`; docs/metrics.md lists them) are mounted (default `/metrics`).
    /// Without the crate feature `metrics` (default) they are not mounted.
    pub fn metrics_path(mut self, path: &str) -> Self {
        self.metrics = Some(path.to_owned());
        self
    }

    /// Mounts no metrics (serve [`crate::Hub::metrics_text`] yourself, or
    /// mount [`Routes::metrics_only`] on another listener).
    pub fn without_metrics(mut self) -> Self {
        self.metrics = None;
        self
    }

    /// Where the health check is mounted (default `/healthz`): 200
    /// `{"status": "ok"}`, or 503 with `{"status": "draining"}` once
    /// [`crate::Hub::shutdown`] began, or `{"status": "unhealthy",
    /// "reason": "store"}` while the store cannot commit.
    pub fn healthz_path(mut self, path: &str) -> Self {
        self.healthz = Some(path.to_owned());
        self
    }

    /// Where the readiness check is mounted (default `/readyz`): the same
    /// answers as [`Self::healthz_path`]'s, under the name orchestrators
    /// (Kubernetes) use for "may this instance get traffic".
    pub fn readyz_path(mut self, path: &str) -> Self {
        self.readyz = Some(path.to_owned());
        self
    }

    /// Where the liveness check is mounted (default `/livez`): 200
    /// `{"status": "alive"}` whenever the process answers HTTP, draining
    /// and store failures included (a failing store or a shutdown under
    /// way is no reason to restart the process; readiness says those).
    pub fn livez_path(mut self, path: &str) -> Self {
        self.livez = Some(path.to_owned());
        self
    }

    /// Mounts none of the health checks (`/healthz`, `/readyz`, `/livez`).
    pub fn without_healthz(mut self) -> Self {
        self.healthz = None;
        self.readyz = None;
        self.livez = None;
        self
    }

    /// Where the JavaScript client is served (default `/tabhub.js`).
    pub fn client_path(mut self, path: &str) -> Self {
        self.client = Some(path.to_owned());
        self
    }

    /// Serves no JavaScript client (the app bundles it itself).
    pub fn without_client(mut self) -> Self {
        self.client = None;
        self
    }

    /// The routes, for `App::configure` (or `ServiceConfig::configure` to
    /// mount them under a scope).
    pub fn configure(self) -> impl FnOnce(&mut web::ServiceConfig) + Clone + 'static {
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(self.shared)
                .app_data(self.origins)
                .app_data(self.observe);
            if let Some(path) = &self.socket {
                cfg.route(path, web::get().to(socket));
            }
            for path in [&self.healthz, &self.readyz].into_iter().flatten() {
                cfg.route(path, web::get().to(observe::healthz));
            }
            if let Some(path) = &self.livez {
                cfg.route(path, web::get().to(observe::livez));
            }
            // Without the feature `metrics` nothing is counted, so nothing
            // is mounted and `/metrics` answers 404.
            if let Some(path) = self.metrics.as_ref().filter(|_| cfg!(feature = "metrics")) {
                cfg.route(path, web::get().to(observe::metrics));
            }
            if let Some(path) = &self.client {
                cfg.service(
                    web::resource(path)
                        .route(web::get().to(client_js))
                        .route(web::head().to(client_js)),
                );
            }
        }
    }
}

fn bad_request(shared: &TabShared, message: String) -> HttpResponse {
    shared.metrics.upgrade_refused(400, "bad_request");
    refusal(HttpResponse::BadRequest(), message)
}

fn refusal(mut status: actix_web::HttpResponseBuilder, message: String) -> HttpResponse {
    status
        .content_type("text/plain; charset=utf-8")
        .body(message)
}

/// `GET /socket/websocket?vsn=2.0.0&tab_id=...&<app params>`: validates the
/// query (HTTP 400), checks the page's origin (403) and the peer address's
/// open connections (429), asks the app who this is (`App::connect`: HTTP
/// 401/403 on a refusal), upgrades to a WebSocket and starts the
/// connection's [`TabActor`], which holds the address's slot until it ends.
async fn socket(
    req: HttpRequest,
    body: web::Payload,
    shared: web::Data<TabShared>,
    origins: web::Data<OriginPolicy>,
) -> Result<HttpResponse, actix_web::Error> {
    let query = match web::Query::<Vec<(String, String)>>::from_query(req.query_string()) {
        Ok(q) => q.into_inner(),
        Err(e) => {
            let why = format!("malformed query string: {e}");
            return Ok(bad_request(&shared, why));
        }
    };
    let mut tab = None;
    let mut connect_params = BTreeMap::new();
    for (name, value) in query {
        match name.as_str() {
            "vsn" if value != PROTOCOL_VSN => {
                let why = format!("unsupported vsn {value:?}: this server speaks {PROTOCOL_VSN}");
                return Ok(bad_request(&shared, why));
            }
            "vsn" => {}
            "tab_id" => match TabId::parse(&value) {
                Ok(id) => tab = Some(id),
                Err(e) => return Ok(bad_request(&shared, e.to_string())),
            },
            _ => {
                connect_params.insert(name, value);
            }
        }
    }
    let tab = tab.unwrap_or_else(TabId::random);
    if let Err(refused) = origins.check(&req) {
        tracing::warn!(origin = ?refused.origin, why = refused.why, "connection refused: the page's origin is not allowed");
        let why = format!("origin not allowed: {}", refused.why);
        shared.metrics.upgrade_refused(403, "origin");
        return Ok(refusal(HttpResponse::Forbidden(), why));
    }
    // Taken before the connect hook, so that the hook's work is bounded by
    // the limit too; dropped with any refusal below.
    let client = crate::tab::client_ip(&req, &shared.config.trusted_proxies);
    let ip_slot = match shared.conns_per_ip.take(client) {
        Ok(slot) => slot,
        Err(full) => {
            tracing::warn!(peer = %full.ip, limit = full.limit, "connection refused: too many open connections from one address");
            let why = format!(
                "too many open connections from this address (at most {})",
                full.limit
            );
            shared.metrics.upgrade_refused(429, "conns_per_ip");
            return Ok(refusal(HttpResponse::TooManyRequests(), why));
        }
    };
    // Who this is, before the upgrade: a refusal never becomes a socket.
    let identity = match (shared.connect)(req.clone()).await {
        Ok(Ok(identity)) => identity,
        Ok(Err(ConnectRefusal::Unauthenticated(why))) => {
            tracing::info!(why, "connection refused: unauthenticated");
            shared.metrics.upgrade_refused(401, "unauthenticated");
            return Ok(refusal(HttpResponse::Unauthorized(), why));
        }
        Ok(Err(ConnectRefusal::Forbidden(why))) => {
            tracing::info!(why, "connection refused: forbidden");
            shared.metrics.upgrade_refused(403, "forbidden");
            return Ok(refusal(HttpResponse::Forbidden(), why));
        }
        Err(unfinished) => {
            tracing::error!(?unfinished, "the connect hook gave no answer");
            let why = "the app could not decide who this connection is".to_owned();
            shared.metrics.upgrade_refused(503, "no_answer");
            return Ok(refusal(HttpResponse::ServiceUnavailable(), why));
        }
    };
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream.max_frame_size(shared.config.max_frame_bytes);
    TabActor::create(|ctx| {
        ctx.add_stream(stream);
        TabActor::new(&shared, tab, identity, connect_params, session, ctx).holding(ip_slot)
    });
    Ok(response)
}

/// The JavaScript client, compiled into the binary.
pub const CLIENT_JS: &str = include_str!("../../assets/tabhub.js");

/// The client's entity tag: a hash of its text, so a browser revalidates
/// (`If-None-Match`) and gets `304 Not Modified` until the script changes.
fn client_etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        CLIENT_JS.hash(&mut hasher);
        format!("\"{}-{:016x}\"", env!("CARGO_PKG_VERSION"), hasher.finish())
    })
}

/// `GET` and `HEAD` of the client script: `200` with the script (no body
/// for `HEAD`), or `304` when the request's `If-None-Match` names the
/// current `ETag`. `Cache-Control: no-cache` makes browsers revalidate on
/// every load instead of re-downloading. A page of another origin may
/// import it (CORS, `Access-Control-Allow-Origin`) when that origin may
/// open a socket here (`--allowed-origin`, or by default localhost and
/// this host), so a dev server on another port can load the client.
async fn client_js(req: HttpRequest, origins: web::Data<OriginPolicy>) -> HttpResponse {
    let etag = client_etag();
    let matches = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let mut response = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::VARY, "Origin"));
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        if origins.check(&req).is_ok() {
            response.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()));
        }
    }
    if matches {
        return response.finish();
    }
    response
        .content_type("text/javascript; charset=utf-8")
        .body(CLIENT_JS)
}
