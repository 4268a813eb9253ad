//! actix-web wiring: [`Hub`], the running service's handle, and the routes
//! it mounts ([`Routes`]: the WebSocket endpoint, `/healthz`, `/metrics`,
//! the client script), in `routes.rs`; which pages may open a socket, in
//! `origin.rs`; the health check, the metrics and the commit timing, in
//! `observe.rs`; the server API a backend calls ([`Api`]), in `api/`;
//! the retention sweeper, in `retention.rs`; and, with a store shared by
//! several nodes, the watch for sessions another node took over, in
//! `ownership.rs`.

mod api;
mod handle;
mod handle_error;
#[cfg(test)]
mod metrics_tests;
mod observe;
mod origin;
mod ownership;
mod remote;
mod retention;
mod routes;

#[cfg(feature = "cli")]
pub(crate) use origin::SiteOrigin;

pub use api::Api;
pub use handle::SessionHandle;
pub use handle_error::HandleError;
pub use observe::Health;
pub use routes::{Routes, CLIENT_JS};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use actix::{Actor, Addr, Arbiter};
use actix_web::web;

use crate::app::{bounded, App, AuthorizeError, JoinRequest};
use crate::cluster;
use crate::config::Config;
use crate::messages::{ActivityClock, Identity, SupervisorLink};
use crate::metrics::Metrics;
use crate::store::committer::Committer;
use crate::store::SessionStore;
use crate::supervisor::{HubStats, Shutdown, Stats, Supervisor};
use crate::tab::{Authorize, Connect, ConnsPerIp, JoinToAuthorize, TabShared};

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
///     let hub = Hub::start(Demo::default(), Config::default(), Arc::new(MemoryStore::new()));
///     let routes = hub.configure();
///     HttpServer::new(move || App::new().configure(routes.clone()))
///         .bind(("127.0.0.1", 4000))?
///         .run()
///         .await
/// }
/// ```
pub struct Hub<A: App> {
    supervisor: Addr<Supervisor<A>>,
    /// This node's router, with a store shared by several nodes.
    node: Option<Addr<cluster::Node>>,
    committer: Option<Committer>,
    shared: web::Data<TabShared>,
    observe: web::Data<observe::Observe>,
    arbiters: Arc<Mutex<Vec<Arbiter>>>,
}

impl<A: App> Clone for Hub<A> {
    fn clone(&self) -> Self {
        Self {
            supervisor: self.supervisor.clone(),
            node: self.node.clone(),
            committer: self.committer.clone(),
            shared: self.shared.clone(),
            observe: self.observe.clone(),
            arbiters: self.arbiters.clone(),
        }
    }
}

impl<A: App> Hub<A> {
    /// Starts the supervisor and `config.session_threads` session threads
    /// (one per core by default). Must be called inside an actix `System`
    /// (`#[actix_web::main]`, `#[actix_rt::test]`).
    ///
    /// `store` keeps the sessions. If it offers a step log
    /// ([`SessionStore::step_log`]; [`crate::RedbStore`] does), the hub
    /// starts the group-commit thread and every step is appended to the
    /// log before anything it sends is visible; otherwise
    /// ([`crate::MemoryStore`]) sessions are saved whole when they stop.
    ///
    /// # Panics
    /// If no actix `System` runs on the calling thread (actix's own rule for
    /// starting threads with `Arbiter::new`), or the OS refuses to start the
    /// commit thread of a store with a step log.
    pub fn start(app: A, config: Config, store: Arc<dyn SessionStore>) -> Self {
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
                let verdict = match join.identity.downcast_ref::<A::Identity>() {
                    Some(identity) => {
                        let request = JoinRequest {
                            identity,
                            key: &join.key,
                            tab_id: &join.tab,
                            params: &join.params,
                            connect_params: &join.connect_params,
                        };
                        bounded(limit, app.authorize(&request)).await
                    }
                    // Only this hub makes identities, always of A's type.
                    None => Ok(Err(AuthorizeError::refused(
                        "the connection's identity is not the app's",
                    ))),
                };
                (verdict, join)
            })
        });
        let connect_app = app.clone();
        let metrics_app = app.clone();
        let connect: Connect = Arc::new(move |request: actix_web::HttpRequest| {
            let app = connect_app.clone();
            Box::pin(async move {
                bounded(limit, app.connect(&request))
                    .await
                    .map(|decided| decided.map(|identity| Arc::new(identity) as Identity))
            })
        });
        let sup_config = config.clone();
        let metrics = Arc::new(Metrics::new());
        // A store with a step log gets the commit thread: every step goes
        // there, and what it sends waits until it is durable.
        let committer = if store.step_log().is_some() {
            let metered = Arc::new(observe::MeteredLog {
                store: store.clone(),
                metrics: metrics.clone(),
            });
            match Committer::start(metered, config.commit_window) {
                Ok(c) => Some(c),
                Err(e) => panic!("cannot start the commit thread: {e}"),
            }
        } else {
            None
        };
        let sup_committer = committer.clone();
        let sweeper_store = store.clone();
        let observed_store = store.clone();
        let sup_metrics = metrics.clone();
        let supervisor = Supervisor::start_in_arbiter(&supervisor_thread.handle(), move |_ctx| {
            Supervisor::new(app, sup_config, store, handles, sup_committer, sup_metrics)
        });
        supervisor_thread.spawn(ownership::watch(sweeper_store.clone(), supervisor.clone()));
        if let Some(ttl) = config.session_ttl {
            supervisor_thread.spawn(retention::sweep(sweeper_store, supervisor.clone(), ttl));
        }
        let direct = SupervisorLink {
            join: supervisor.clone().recipient(),
            leave: supervisor.clone().recipient(),
            visibility: supervisor.clone().recipient(),
            started: supervisor.clone().recipient(),
            gone: supervisor.clone().recipient(),
        };
        let clock = ActivityClock::default();
        let next_conn = Arc::new(AtomicU64::new(1));
        // With a store shared by several nodes, tabs' joins go through the
        // node's router, which sends them to their session's owner.
        let node_thread = Arbiter::new();
        let cluster = cluster::start::<A>(
            &node_thread,
            observed_store.clone(),
            &direct,
            &clock,
            &config,
            &next_conn,
            remote::run_here(supervisor.clone()),
        );
        let (link, cluster_stats, node) = match cluster {
            Some((node, stats)) => (
                SupervisorLink {
                    join: node.clone().recipient(),
                    leave: node.clone().recipient(),
                    visibility: node.clone().recipient(),
                    ..direct
                },
                Some(stats),
                Some(node),
            ),
            None => (direct, None, None),
        };
        let shared = web::Data::new(TabShared {
            conns_per_ip: ConnsPerIp::new(config.max_conns_per_ip),
            config,
            supervisor: link,
            clock,
            next_conn,
            authorize,
            connect,
            metrics: metrics.clone(),
        });
        let observe = web::Data::new(observe::Observe {
            metrics,
            stats: supervisor.clone().recipient(),
            committer: committer.clone(),
            store: observed_store,
            cluster: cluster_stats,
            draining: AtomicBool::new(false),
            app_metrics: Box::new(move || metrics_app.metrics_text()),
        });
        let mut arbiters = session_threads;
        arbiters.push(supervisor_thread);
        arbiters.push(node_thread);
        Self {
            supervisor,
            node,
            committer,
            shared,
            observe,
            arbiters: Arc::new(Mutex::new(arbiters)),
        }
    }

    /// The service's configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The default routes, for `App::configure` (or
    /// `ServiceConfig::configure` to mount them under a scope):
    /// `GET /socket/websocket` (the WebSocket endpoint), `GET /healthz`,
    /// `GET /metrics` (Prometheus text), and `GET`/`HEAD /tabhub.js` (the
    /// JavaScript client, an ES module, with an `ETag`). [`Hub::routes`]
    /// chooses other paths or leaves some out.
    pub fn configure(&self) -> impl FnOnce(&mut web::ServiceConfig) + Clone + 'static {
        self.routes().configure()
    }

    /// A handle on the session of `key`, for server code: submit events,
    /// read the state, send effects, cancel tasks, list tabs; see
    /// [`SessionHandle`]. Its calls start the session if it is stopped.
    /// With a store shared by several nodes, a call for a session another
    /// node owns runs on that node (docs/scale-out.md, "Server code across
    /// nodes").
    pub fn session(&self, key: &crate::ids::SessionKey) -> SessionHandle<A> {
        SessionHandle {
            supervisor: self.supervisor.clone(),
            key: key.clone(),
            node: self.node.clone(),
        }
    }

    /// Whether the durable store cannot commit now: its latest write failed
    /// for every step it carried (a full or failing disk). It clears at the
    /// next write that succeeds. Always `false` without a durable store.
    pub fn store_failing(&self) -> bool {
        self.committer.as_ref().is_some_and(Committer::failing)
    }

    /// The server API (`docs/app-proxy.md`, "The server API"), which a
    /// backend calls with `Authorization: Bearer <token>` to submit events,
    /// push state changes and effects, end tasks, and read, stop and
    /// delete sessions; adjust it and mount it with [`Api::configure`].
    pub fn api(&self, token: impl Into<String>) -> Api<A> {
        Api::new(
            self.supervisor.clone(),
            self.node.clone(),
            self.observe.metrics.clone(),
            self.observe.store.clone(),
            self.config(),
            token.into(),
        )
    }

    /// The routes, to adjust before mounting: see [`Routes`].
    pub fn routes(&self) -> Routes {
        Routes::new(self.shared.clone(), self.observe.clone())
    }

    /// Every metric of this hub in Prometheus' text format (what
    /// `GET /metrics` serves), for an app that serves them itself. Names
    /// start with `tabhub_`; docs/metrics.md lists them. Each hub counts in a
    /// registry of its own. Without the crate feature `metrics` (default)
    /// nothing is counted and this is an empty string.
    pub async fn metrics_text(&self) -> String {
        self.observe.metrics_text().await
    }

    /// What `GET /healthz` reports: [`Health::Draining`] once
    /// [`Hub::shutdown`] began, else [`Health::Unreachable`] while the
    /// store's backend (Redis) cannot be reached, else
    /// [`Health::StoreFailing`] while the store cannot commit (the latest
    /// write failed for every step it carried), else [`Health::Ok`].
    pub fn health(&self) -> Health {
        self.observe.health()
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

    /// Graceful shutdown of an embedding app in one call: tabhub's own
    /// shutdown ([`Hub::shutdown`]: 1012 to every socket, every session
    /// flushed), then the actix-web server behind `server` stops
    /// gracefully. Build the server with `.disable_signals()` and call this
    /// on the signal of your choice (see `examples/embed.rs`).
    pub async fn shutdown_with(&self, server: actix_web::dev::ServerHandle) {
        self.shutdown().await;
        server.stop(true).await;
    }

    /// Graceful shutdown: closes every connection with 1012 (service
    /// restart: reconnect later), saves and stops every session, then stops
    /// the session threads. New connections are closed with 1012 too.
    pub async fn shutdown(&self) {
        // From now on the health check says draining.
        self.observe.draining.store(true, Ordering::Release);
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
