//! An existing actix-web app (its own routes) that adds tabhub in a few
//! lines, with its own small `App`: a shared counter with an awaiting
//! handler, an effect and a background task.
//!
//! Run: `cargo run --example embed`, then connect any Phoenix V2 client to
//! `ws://127.0.0.1:4001/socket/websocket` and join `session:<KEY>`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App as WebApp, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tabhub::{App, AppError, Config, Context, Hub, MemoryStore, TaskEnd};

/// One shared counter per session key.
struct Counter;

#[derive(Default, Serialize, Deserialize)]
struct CounterState {
    count: i64,
    ticking: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum CounterEvent {
    /// Adds `by` and toasts the new value to the tab that asked.
    Add { by: i64 },
    /// Adds 1 every `every_ms` for `ticks` ticks, in the background; a tab
    /// stops it with the protocol's `cancel {"task": "ticker"}`.
    Tick { ticks: u32, every_ms: u64 },
}

/// Stands for a call to another service: answers after a short await.
async fn quota_allows(by: i64) -> bool {
    actix_rt::time::sleep(Duration::from_millis(2)).await;
    by.abs() <= 1_000
}

impl App for Counter {
    type State = CounterState;
    type Event = CounterEvent;
    type Identity = ();

    async fn handle(
        &self,
        state: &mut CounterState,
        event: CounterEvent,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        match event {
            CounterEvent::Add { by } => {
                // A handler may await: here a (pretend) remote quota check.
                // The session's next event waits; other sessions go on.
                if !quota_allows(by).await {
                    return Err(AppError::invalid_payload("over the quota"));
                }
                state.count += by;
                cx.effect(
                    "toast",
                    json!({ "text": format!("count is now {}", state.count) }),
                );
            }
            CounterEvent::Tick { ticks, every_ms } => {
                state.ticking = true;
                cx.spawn_task("ticker", move |task| async move {
                    for _ in 0..ticks {
                        actix_rt::time::sleep(Duration::from_millis(every_ms)).await;
                        task.update(|state: &mut CounterState, _cx| {
                            state.count += 1;
                            Ok(())
                        })
                        .await??;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    fn task_ended(
        &self,
        state: &mut CounterState,
        _task: &str,
        _end: &TaskEnd,
        _cx: &mut Context<'_, Self>,
    ) {
        state.ticking = false;
    }
}

async fn home() -> HttpResponse {
    HttpResponse::Ok().body("my existing app; tabhub lives at /socket/websocket")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The one addition: start a hub and mount its routes.
    let hub = Hub::start(Counter, Config::default(), Arc::new(MemoryStore::new()));
    let tabhub_routes = hub.configure();

    let server = HttpServer::new(move || {
        WebApp::new()
            .route("/", web::get().to(home))
            .configure(tabhub_routes.clone())
    })
    .tcp_nodelay(true)
    // Shutdown goes through the hub: tabs get 1012 (reconnect later) and
    // every session is flushed before the server stops.
    .disable_signals()
    .bind(("127.0.0.1", 4001))?
    .run();
    let server_handle = server.handle();
    let on_ctrl_c = async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            hub.shutdown_with(server_handle).await;
        }
    };
    let (served, ()) = tokio::join!(server, on_ctrl_c);
    served
}
