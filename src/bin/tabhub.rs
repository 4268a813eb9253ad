//! The `tabhub` service: the demo app on `/socket/websocket`, its page on
//! `/`, the client on `/tabhub.js`, and `/healthz`.

use actix_web::{App, HttpServer};
use clap::Parser;
use tabhub::cli::Cli;
use tabhub::demo::Demo;
use tabhub::Hub;
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let store = match cli.open_store() {
        Ok(store) => store,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the store");
            return Err(std::io::Error::other(e));
        }
    };
    tracing::info!(store = ?cli.store, data = %cli.data.display(), "store opened");
    let hub = Hub::start(Demo, cli.config(), store);
    let routes = hub.configure();
    let server = HttpServer::new(move || {
        App::new()
            .configure(routes.clone())
            .configure(tabhub::demo::page)
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

    let shutdown = async move {
        wait_for_signal().await;
        tracing::info!("signal received; shutting down");
        hub.shutdown().await;
        handle.stop(true).await;
    };
    let (served, ()) = tokio::join!(server, shutdown);
    served
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
