//! actix-web wiring: [`Hub`], the running service's handle, and the routes
//! it mounts (`/socket/websocket`, `/healthz`).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use actix::{Actor, Addr, Arbiter, AsyncContext};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::{bounded, App};
use crate::config::Config;
use crate::ids::TabId;
use crate::messages::{ActivityClock, SupervisorLink};
use crate::store::committer::Committer;
use crate::store::Store;
use crate::supervisor::{HubStats, Shutdown, Stats, Supervisor};
use crate::tab::{Authorize, JoinToAuthorize, TabActor, TabShared};

/// The protocol version this server speaks (the `vsn` query param).
pub const PROTOCOL_VSN: &str = "2.0.0";

/// A running tabhub: its supervisor, session threads, and what the routes
/// need. Cheap to clone; every clone is the same service.
///
/// ```no_run
/// use std::sync::Arc;
/// use actix_web::{App, HttpServer};
/// use tabhub::{demo::Demo, Config, Hub, MemoryStore};
///
/// #[actix_web::main]
/// async fn main() -> std::io::Result<()> {
///     let hub = Hub::start(Demo, Config::default(), Arc::new(MemoryStore::new()));
///     let routes = hub.configure();
///     HttpServer::new(move || App::new().configure(routes.clone()))
///         .bind(("127.0.0.1", 4000))?
///         .run()
///         .await
/// }
/// ```
pub struct Hub<A: App> {
    supervisor: Addr<Supervisor<A>>,
    committer: Option<Committer>,
    shared: web::Data<TabShared>,
    arbiters: Arc<Mutex<Vec<Arbiter>>>,
}

impl<A: App> Clone for Hub<A> {
    fn clone(&self) -> Self {
        Self {
            supervisor: self.supervisor.clone(),
            committer: self.committer.clone(),
            shared: self.shared.clone(),
            arbiters: self.arbiters.clone(),
        }
    }
}

impl<A: App> Hub<A> {
    /// Starts the supervisor and `config.session_threads` session threads
    /// (one per core by default). Must be called inside an actix `System`
    /// (`#[actix_web::main]`, `#[actix_rt::test]`).
    ///
    /// # Panics
    /// If no actix `System` runs on the calling thread (actix's own rule for
    /// starting threads with `Arbiter::new`), or the OS refuses to start the
    /// commit thread of a durable store.
    pub fn start(app: A, config: Config, store: Arc<dyn Store>) -> Self {
        let config = Arc::new(config);
        let session_threads: Vec<Arbiter> = (0..config.session_thread_count())
            .map(|_| Arbiter::new())
            .collect();
        let handles = session_threads.iter().map(Arbiter::handle).collect();
        let supervisor_thread = Arbiter::new();
        let app = Arc::new(app);
        let authorize_app = app.clone();
        let limit = config.handler_timeout;
        let authorize: Authorize = Arc::new(move |join: JoinToAuthorize| {
            let app = authorize_app.clone();
            Box::pin(async move {
                let verdict = bounded(limit, app.authorize(&join.request())).await;
                (verdict, join)
            })
        });
        let sup_config = config.clone();
        let committer = if store.durable() {
            match Committer::start(store.clone(), config.commit_window) {
                Ok(c) => Some(c),
                Err(e) => panic!("cannot start the commit thread: {e}"),
            }
        } else {
            None
        };
        let sup_committer = committer.clone();
        let supervisor = Supervisor::start_in_arbiter(&supervisor_thread.handle(), move |_ctx| {
            Supervisor::new(app, sup_config, store, handles, sup_committer)
        });
        let link = SupervisorLink {
            join: supervisor.clone().recipient(),
            leave: supervisor.clone().recipient(),
            visibility: supervisor.clone().recipient(),
            started: supervisor.clone().recipient(),
            gone: supervisor.clone().recipient(),
        };
        let shared = web::Data::new(TabShared {
            config,
            supervisor: link,
            clock: ActivityClock::default(),
            next_conn: AtomicU64::new(1),
            authorize,
        });
        let mut arbiters = session_threads;
        arbiters.push(supervisor_thread);
        Self {
            supervisor,
            committer,
            shared,
            arbiters: Arc::new(Mutex::new(arbiters)),
        }
    }

    /// The service's configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The routes, for `App::configure` (or `ServiceConfig::configure` to
    /// mount them under a scope): `GET /socket/websocket` (the WebSocket
    /// endpoint, PROTOCOL section 1), `GET /healthz`, and `GET /tabhub.js`
    /// (the JavaScript client, an ES module).
    pub fn configure(&self) -> impl FnOnce(&mut web::ServiceConfig) + Clone + 'static {
        let shared = self.shared.clone();
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(shared)
                .route("/socket/websocket", web::get().to(socket))
                .route("/healthz", web::get().to(healthz))
                .route("/tabhub.js", web::get().to(client_js));
        }
    }

    /// Counts of live sessions, open connections and joined tabs, from the
    /// supervisor's registry. All zero (after the grace time) once every
    /// tab has gone: what a join registers, its end unregisters.
    ///
    /// # Errors
    /// [`actix::MailboxError`] if the supervisor is no longer running (after
    /// [`Hub::shutdown`]).
    pub async fn stats(&self) -> Result<HubStats, actix::MailboxError> {
        self.supervisor.send(Stats).await
    }

    /// Graceful shutdown: closes every connection with 1012 (service
    /// restart: reconnect later), saves and stops every session, then stops
    /// the session threads. New connections are closed with 1012 too.
    pub async fn shutdown(&self) {
        if let Err(e) = self.supervisor.send(Shutdown).await {
            tracing::error!(error = %e, "supervisor did not answer the shutdown");
        }
        if let Some(committer) = &self.committer {
            committer.flush().await;
        }
        let arbiters =
            std::mem::take(&mut *self.arbiters.lock().unwrap_or_else(PoisonError::into_inner));
        for arbiter in arbiters {
            arbiter.stop();
        }
    }
}

fn bad_request(message: String) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/plain; charset=utf-8")
        .body(message)
}

/// `GET /socket/websocket?vsn=2.0.0&tab_id=...&<app params>`: validates the
/// query, upgrades to a WebSocket and starts the connection's [`TabActor`].
async fn socket(
    req: HttpRequest,
    body: web::Payload,
    shared: web::Data<TabShared>,
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
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream.max_frame_size(shared.config.max_frame_bytes);
    TabActor::create(|ctx| {
        ctx.add_stream(stream);
        TabActor::new(&shared, tab, connect_params, session)
    });
    Ok(response)
}

/// The JavaScript client, compiled into the binary.
pub const CLIENT_JS: &str = include_str!("../assets/tabhub.js");

async fn client_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .body(CLIENT_JS)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}
