//! The server API (`docs/app-proxy.md`, "The server API"): HTTP routes
//! through which a backend drives sessions by key, behind a bearer token.
//! [`Api`] mounts them under a prefix (default `/api`); the handlers are in
//! `sessions.rs` (the listing of sessions in `listing.rs`, the admin page
//! that shows it in `admin.rs`), reading bodies in `body.rs`, the error body in
//! `error.rs`. Every route reaches the session through a
//! [`SessionHandle`], so it owns no session logic of its own.
//!
//! The token is checked first, by a middleware on the whole scope: without
//! it even an unknown path or an oversized body gets `401`.

mod admin;
mod body;
mod error;
mod listing;
mod sessions;

use actix::Addr;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use constant_time_eq::constant_time_eq;

use self::error::{ApiError, ApiReason};
use super::SessionHandle;
use crate::app::App;
use crate::config::Config;
use crate::ids::SessionKey;
use crate::supervisor::Supervisor;

/// The server API of a hub, from [`crate::Hub::api`], to adjust and then
/// mount with [`Api::configure`]. Requests must carry `Authorization:
/// Bearer TOKEN`; an empty token authorizes nothing.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use actix_web::{App, HttpServer};
/// # use tabhub::{demo::Demo, Config, Hub, MemoryStore};
/// # #[actix_web::main]
/// # async fn main() -> std::io::Result<()> {
/// let hub = Hub::start(Demo::default(), Config::default(), Arc::new(MemoryStore::new()));
/// let routes = hub.configure();
/// let api = hub.api("a long random secret").prefix("/api").configure();
/// HttpServer::new(move || App::new().configure(routes.clone()).configure(api.clone()))
///     .bind(("127.0.0.1", 4000))?
///     .run()
///     .await
/// # }
/// ```
pub struct Api<A: App> {
    supervisor: Addr<Supervisor<A>>,
    node: Option<Addr<crate::cluster::Node>>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The store, for the listing of stored sessions.
    store: std::sync::Arc<dyn crate::store::SessionStore>,
    /// The order of the live listing (`listing.rs`), fixed for the API's life.
    order: std::hash::RandomState,
    token: String,
    prefix: String,
    /// Where the admin page is served (`admin.rs`), if anywhere.
    admin: Option<String>,
    max_body_bytes: usize,
    max_name_bytes: usize,
    max_json_depth: usize,
}

impl<A: App> Clone for Api<A> {
    fn clone(&self) -> Self {
        Self {
            supervisor: self.supervisor.clone(),
            node: self.node.clone(),
            metrics: self.metrics.clone(),
            store: self.store.clone(),
            order: self.order.clone(),
            token: self.token.clone(),
            prefix: self.prefix.clone(),
            admin: self.admin.clone(),
            max_body_bytes: self.max_body_bytes,
            max_name_bytes: self.max_name_bytes,
            max_json_depth: self.max_json_depth,
        }
    }
}

impl<A: App> Api<A> {
    pub(super) fn new(
        supervisor: Addr<Supervisor<A>>,
        node: Option<Addr<crate::cluster::Node>>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        store: std::sync::Arc<dyn crate::store::SessionStore>,
        config: &Config,
        token: String,
    ) -> Self {
        Self {
            supervisor,
            node,
            metrics,
            store,
            order: listing::new_order(),
            token,
            prefix: "/api".to_owned(),
            admin: Some("/admin".to_owned()),
            max_body_bytes: config.max_frame_bytes,
            max_name_bytes: config.max_name_bytes,
            max_json_depth: config.max_json_depth,
        }
    }

    /// Where the API is mounted (default `/api`): its routes are
    /// `{prefix}/sessions/{key}/...`, and any other path under the prefix
    /// is `404 not_found`. A trailing `/` is dropped; give a non-empty
    /// prefix, since the API answers every path under it.
    pub fn prefix(mut self, path: &str) -> Self {
        let path = path.trim_end_matches('/');
        self.prefix = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        self
    }

    /// The largest body accepted, in bytes (default: the hub's
    /// `max_frame_bytes`, so nothing reaches a session through the API that
    /// could not through a socket); a larger one is `413 too_large`.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Where the read-only admin page is served (default `/admin`; a
    /// leading `/` is added). The page holds no data: it asks for the
    /// API's token and shows this node's counts, a page of
    /// `{prefix}/sessions` and headline totals of `/metrics`, as the API
    /// answers to that token.
    pub fn admin_path(mut self, path: &str) -> Self {
        self.admin = Some(if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        });
        self
    }

    /// Serves no admin page.
    pub fn without_admin(mut self) -> Self {
        self.admin = None;
        self
    }

    /// The routes, for `App::configure` (or `ServiceConfig::configure`):
    /// the API under its prefix, and the admin page unless
    /// [`Api::without_admin`].
    pub fn configure(self) -> impl FnOnce(&mut web::ServiceConfig) + Clone + 'static {
        move |cfg: &mut web::ServiceConfig| {
            let prefix = self.prefix.clone();
            if let Some(path) = &self.admin {
                admin::mount(cfg, path, admin::render(&prefix));
            }
            cfg.service(
                web::scope(&prefix)
                    .app_data(web::Data::new(self))
                    .wrap(from_fn(authorize::<A, BoxBody>))
                    .configure(sessions::routes::<A>)
                    .default_service(web::to(not_found)),
            );
        }
    }

    /// `Ok` when `headers` carry `Authorization: Bearer <the token>`
    /// (the scheme's case does not matter: RFC 7235 section 2.1); else
    /// `401 unauthorized`, saying what was missing.
    fn authorizes(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let refused = |message: &str| Err(ApiError::new(ApiReason::Unauthorized, message));
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return refused("expected the header `Authorization: Bearer TOKEN`; none was sent");
        };
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
        let Some((_, token)) = bearer else {
            return refused("expected `Authorization: Bearer TOKEN`; another scheme was sent");
        };
        if self.token.is_empty()
            || !constant_time_eq(token.trim().as_bytes(), self.token.as_bytes())
        {
            return refused("the bearer token is not the server API's");
        }
        Ok(())
    }

    /// The session named by the path's `{key}`.
    ///
    /// # Errors
    /// 400 `invalid_key`.
    fn session(&self, req: &HttpRequest) -> Result<SessionHandle<A>, ApiError> {
        let key = SessionKey::parse(req.match_info().get("key").unwrap_or_default())?;
        Ok(SessionHandle {
            supervisor: self.supervisor.clone(),
            key,
            node: self.node.clone(),
        })
    }
}

/// Lets a request on only with the API's token; otherwise `401
/// unauthorized`, before routing, so no path or body is looked at.
async fn authorize<A: App, B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let api = req.app_data::<web::Data<Api<A>>>().cloned();
    let verdict = match &api {
        Some(api) => api.authorizes(req.headers()),
        // The scope that holds this middleware holds the data too.
        None => Err(ApiError::new(ApiReason::Unauthorized, "no server API here")),
    };
    let response = match verdict {
        Ok(()) => next.call(req).await?.map_into_boxed_body(),
        Err(refused) => {
            // The path holds a session key, a bearer secret: logged short.
            let path = short_keys(req.path());
            tracing::debug!(path, "server API call refused: unauthorized");
            req.into_response(refused.error_response())
        }
    };
    if let Some(api) = api {
        let route = route_label(response.request(), &api.prefix);
        api.metrics.api_request(route, response.status().as_u16());
    }
    Ok(response)
}

/// The `route` label of every route of the API: its method and its path
/// after `{prefix}/sessions/{key}`. The label set of
/// `tabhub_api_requests_total` is these and `other`, whatever arrives.
const ROUTES: [(&str, &str, &str); 8] = [
    ("GET", "", "GET "),
    ("DELETE", "", "DELETE "),
    ("POST", "/events", "POST /events"),
    ("POST", "/state", "POST /state"),
    ("POST", "/effects", "POST /effects"),
    ("POST", "/tasks/{task}/end", "POST /tasks/{task}/end"),
    ("POST", "/tasks/{task}/cancel", "POST /tasks/{task}/cancel"),
    ("POST", "/stop", "POST /stop"),
];

/// The `route` label of `tabhub_api_requests_total`: `GET /stats`,
/// `GET /sessions`, or one of [`ROUTES`] when the request's method and
/// path are one of the API's session routes (`POST /events`, `GET `), else
/// `other` (an unknown path or method), so no request, authorized or not,
/// adds a label value of its own choosing.
fn route_label(req: &HttpRequest, prefix: &str) -> &'static str {
    let bare = req
        .match_pattern()
        .and_then(|pattern| pattern.strip_prefix(prefix).map(str::to_owned));
    if req.method() == actix_web::http::Method::GET {
        match bare.as_deref() {
            Some("/stats") => return "GET /stats",
            Some("/sessions") => return "GET /sessions",
            _ => {}
        }
    }
    let rest = req.match_pattern().and_then(|pattern| {
        pattern
            .strip_prefix(prefix)
            .and_then(|p| p.strip_prefix("/sessions/{key}"))
            .map(str::to_owned)
    });
    let method = req.method().as_str();
    rest.and_then(|rest| {
        ROUTES
            .iter()
            .find(|(m, path, _)| *m == method && *path == rest)
    })
    .map_or("other", |(_, _, label)| label)
}

/// Any other path under the prefix, or a route's path with another
/// method: `404 not_found`.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let message = format!(
        "no route {} {}: the server API's routes are {{prefix}}/stats, {{prefix}}/sessions and under {{prefix}}/sessions/{{key}}",
        req.method(),
        req.path()
    );
    Err(ApiError::new(ApiReason::NotFound, message))
}

/// `path` with the segment after each `sessions` (a session key, valid or
/// not) cut to its first six characters and `…`, as [`crate::SessionKey`]
/// shows itself in logs.
fn short_keys(path: &str) -> String {
    let mut after_sessions = false;
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            let shown = if after_sessions && segment.chars().count() > 6 {
                let cut: String = segment.chars().take(6).collect();
                format!("{cut}…")
            } else {
                segment.to_owned()
            };
            after_sessions = segment == "sessions";
            shown
        })
        .collect();
    segments.join("/")
}

#[cfg(test)]
mod tests {
    use super::short_keys;

    #[test]
    fn a_logged_path_shows_only_the_start_of_its_key() {
        assert_eq!(
            short_keys("/api/sessions/2a6d891fe92c4a7285d1f7974762e377/events"),
            "/api/sessions/2a6d89…/events"
        );
        assert_eq!(short_keys("/api/sessions/abc"), "/api/sessions/abc");
        assert_eq!(short_keys("/api/other/x"), "/api/other/x");
    }
}
