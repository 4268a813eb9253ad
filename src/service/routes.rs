//! [`Routes`]: what a [`super::Hub`] mounts on an actix-web app, and where.
//! By default `GET /socket/websocket` (the WebSocket endpoint),
//! `GET /healthz`, and `GET`/`HEAD /tabhub.js` (the JavaScript client, an
//! ES module, revalidated by `ETag`); an app may move the socket and the
//! script and leave out the health check or the script.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use actix::{Actor, AsyncContext};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

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
/// let hub = Hub::start(Demo, Config::default(), Arc::new(MemoryStore::new()));
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
    socket: String,
    healthz: Option<String>,
    client: Option<String>,
}

impl Routes {
    pub(super) fn new(shared: web::Data<TabShared>) -> Self {
        let origins = OriginPolicy::from_allowed(&shared.config.allowed_origins);
        Self {
            origins: web::Data::new(origins),
            shared,
            socket: "/socket/websocket".to_owned(),
            healthz: Some("/healthz".to_owned()),
            client: Some("/tabhub.js".to_owned()),
        }
    }

    /// Where the WebSocket endpoint is mounted (default
    /// `/socket/websocket`, where Phoenix clients look for a socket
    /// created with `new Socket("/socket")`).
    pub fn socket_path(mut self, path: &str) -> Self {
        self.socket = path.to_owned();
        self
    }

    /// Where the health check (`{"status": "ok"}`) is mounted (default
    /// `/healthz`).
    pub fn healthz_path(mut self, path: &str) -> Self {
        self.healthz = Some(path.to_owned());
        self
    }

    /// Mounts no health check.
    pub fn without_healthz(mut self) -> Self {
        self.healthz = None;
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
                .route(&self.socket, web::get().to(socket));
            if let Some(path) = &self.healthz {
                cfg.route(path, web::get().to(healthz));
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

fn bad_request(message: String) -> HttpResponse {
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
        Err(e) => return Ok(bad_request(format!("malformed query string: {e}"))),
    };
    let mut tab = None;
    let mut connect_params = BTreeMap::new();
    for (name, value) in query {
        match name.as_str() {
            "vsn" if value != PROTOCOL_VSN => {
                return Ok(bad_request(format!(
                    "unsupported vsn {value:?}: this server speaks {PROTOCOL_VSN}"
                )))
            }
            "vsn" => {}
            "tab_id" => match TabId::parse(&value) {
                Ok(id) => tab = Some(id),
                Err(e) => return Ok(bad_request(e.to_string())),
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
        return Ok(refusal(HttpResponse::Forbidden(), why));
    }
    // Taken before the connect hook, so that the hook's work is bounded by
    // the limit too; dropped with any refusal below.
    let ip_slot = match shared.conns_per_ip.take(req.peer_addr().map(|a| a.ip())) {
        Ok(slot) => slot,
        Err(full) => {
            tracing::warn!(peer = %full.ip, limit = full.limit, "connection refused: too many open connections from one address");
            let why = format!(
                "too many open connections from this address (at most {})",
                full.limit
            );
            return Ok(refusal(HttpResponse::TooManyRequests(), why));
        }
    };
    // Who this is, before the upgrade: a refusal never becomes a socket.
    let identity = match (shared.connect)(req.clone()).await {
        Ok(Ok(identity)) => identity,
        Ok(Err(ConnectRefusal::Unauthenticated(why))) => {
            tracing::info!(why, "connection refused: unauthenticated");
            return Ok(refusal(HttpResponse::Unauthorized(), why));
        }
        Ok(Err(ConnectRefusal::Forbidden(why))) => {
            tracing::info!(why, "connection refused: forbidden");
            return Ok(refusal(HttpResponse::Forbidden(), why));
        }
        Err(unfinished) => {
            tracing::error!(?unfinished, "the connect hook gave no answer");
            let why = "the app could not decide who this connection is".to_owned();
            return Ok(refusal(HttpResponse::ServiceUnavailable(), why));
        }
    };
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream.max_frame_size(shared.config.max_frame_bytes);
    TabActor::create(|ctx| {
        ctx.add_stream(stream);
        TabActor::new(&shared, tab, identity, connect_params, session).holding(ip_slot)
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
/// every load instead of re-downloading.
async fn client_js(req: HttpRequest) -> HttpResponse {
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
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if matches {
        return response.finish();
    }
    response
        .content_type("text/javascript; charset=utf-8")
        .body(CLIENT_JS)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}
