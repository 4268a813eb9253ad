//! The `tabhub` service: the demo app (or, with `--app-url`, the app
//! proxy) on `/socket/websocket`, the demo page on `/`, the client on
//! `/tabhub.js`, `/healthz`, `/metrics` (there, or alone on
//! `--metrics-bind`), and with `--api-token` the server API. Settings come
//! from flags, the environment and a `--config` file (`Cli::load`);
//! `--print-config` prints them and exits. With `--otlp-endpoint`, spans
//! are exported to an OpenTelemetry collector and flushed at exit.

use std::io::Write;
use std::time::Duration;

use actix_web::{App, HttpServer};
use tabhub::cli::{Cli, LogFormat};
use tabhub::demo::Demo;
use tabhub::otel::Tracing;
use tabhub::proxy::Proxy;
use tabhub::Hub;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// With feature `mimalloc`, the binary allocates with mimalloc
/// (docs/performance.md measures it against the system's malloc).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How much longer a handler may run than the backend call it makes, so
/// a slow backend fails with `backend_timeout` rather than the handler's
/// own limit.
const HANDLER_MARGIN: Duration = Duration::from_secs(1);

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::load().unwrap_or_else(|e| e.exit());
    if cli.print_config {
        let text = cli.effective_toml().unwrap_or_else(|e| e.exit());
        return std::io::stdout().write_all(text.as_bytes());
    }
    let spans = start_tracing(&cli);
    let served = run(&cli).await;
    if let Some(spans) = spans {
        spans.shutdown();
    }
    served
}

/// Installs the log output (`RUST_LOG`, `--log-format`) and, when asked
/// (`--otlp-endpoint`, `OTEL_EXPORTER_OTLP_ENDPOINT`), the span export
/// beside it; exits 2 when the export cannot start.
fn start_tracing(cli: &Cli) -> Option<Tracing> {
    let spans = Tracing::wanted(cli.otlp_endpoint.as_deref()).then(|| {
        Tracing::start(cli.otlp_endpoint.as_deref()).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        })
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
    };
    // tabhub's own spans only: the exporter's HTTP client traces too, and
    // exporting those would feed the export itself.
    let exported = spans.as_ref().map(|spans| {
        spans
            .layer()
            .with_filter(Targets::new().with_target("tabhub", Level::INFO))
    });
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(exported)
        .init();
    if let Some(endpoint) = &cli.otlp_endpoint {
        tracing::info!(endpoint, "spans exported over OTLP");
    }
    spans
}

/// Opens the store and serves the demo, or the app behind `--app-url`,
/// until a signal.
async fn run(cli: &Cli) -> std::io::Result<()> {
    let store = match cli.open_store() {
        Ok(store) => store,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the store");
            return Err(std::io::Error::other(e));
        }
    };
    tracing::info!(store = ?cli.store, data = %cli.data.display(), "store opened");
    let mut config = cli.config();
    match cli.backend.proxy() {
        Some(mut proxy) => {
            proxy.trusted_proxies = config.trusted_proxies.clone();
            let least = proxy.timeout + HANDLER_MARGIN;
            if config.handler_timeout < least {
                tracing::info!(
                    ms = least.as_millis(),
                    "handler timeout raised above --app-timeout-ms"
                );
                config.handler_timeout = least;
            }
            tracing::info!(url = proxy.url, "serving the app behind --app-url");
            serve(Hub::start(Proxy::new(proxy), config, store), cli).await
        }
        None => serve(Hub::start(demo_app(cli), config, store), cli).await,
    }
}

/// The demo app the binary serves: with its presence list unless
/// `--no-demo-presence`.
fn demo_app(cli: &Cli) -> Demo {
    if cli.no_demo_presence {
        Demo::default()
    } else {
        Demo::with_presence()
    }
}

/// Serves `hub` until a signal, then shuts it down gracefully.
async fn serve<A: tabhub::App>(hub: Hub<A>, cli: &Cli) -> std::io::Result<()> {
    // With --metrics-bind, /metrics is served there and only there.
    let routes = match &cli.metrics_bind {
        Some(_) => hub.routes().without_metrics().configure(),
        None => hub.routes().configure(),
    };
    let metrics_server = match &cli.metrics_bind {
        Some(addr) => {
            let metrics = hub.routes().metrics_only().configure();
            let server = HttpServer::new(move || App::new().configure(metrics.clone()))
                .workers(1)
                .disable_signals()
                .bind(addr)?
                .run();
            tracing::info!(url = format!("http://{addr}/metrics"), "metrics listening");
            Some(server)
        }
        None => None,
    };
    let api = cli.backend.api_token.as_ref().map(|token| {
        tracing::info!(prefix = cli.backend.api_prefix, "server API enabled");
        let api = hub.api(token.clone()).prefix(&cli.backend.api_prefix);
        if cli.backend.no_admin {
            api.without_admin().configure()
        } else {
            api.configure()
        }
    });
    // The demo page is served in both modes (the browser tests load it
    // through the app proxy), unless --no-demo.
    let demo = !cli.no_demo;
    let server = HttpServer::new(move || {
        let app = App::new().configure(routes.clone());
        let app = match api.clone() {
            Some(api) => app.configure(api),
            None => app,
        };
        if demo {
            app.configure(tabhub::demo::page)
        } else {
            app
        }
    })
    // Nagle plus delayed ACKs added ~40 ms to request/reply round trips.
    .tcp_nodelay(true)
    // Shutdown is ours: close tabs with 1012 and save sessions first.
    .disable_signals()
    .bind(&cli.bind)?
    .run();
    let handle = server.handle();
    let addrs = cli.bind.clone();
    tracing::info!(
        url = format!("http://{addrs}/"),
        socket = format!("ws://{addrs}/socket/websocket"),
        "tabhub listening"
    );

    let metrics_handle = metrics_server.as_ref().map(|s| s.handle());
    let shutdown = async move {
        wait_for_signal().await;
        tracing::info!("signal received; shutting down");
        hub.shutdown().await;
        handle.stop(true).await;
        if let Some(metrics) = metrics_handle {
            metrics.stop(true).await;
        }
    };
    let metrics_served = async move {
        match metrics_server {
            Some(server) => server.await,
            None => Ok(()),
        }
    };
    let (served, metrics_served, ()) = tokio::join!(server, metrics_served, shutdown);
    served.and(metrics_served)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "no SIGTERM handler; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
