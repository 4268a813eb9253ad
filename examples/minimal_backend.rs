//! The least a backend of the app proxy can be, for load tests: the
//! loadgen's two events (`add_todo {text}`, `toggle_todo {id}`) as RFC 6902
//! patches against the state tabhub sends, every join allowed, and a new
//! key's state `{"todos": []}`. It counts what tabhub asks, so a run can
//! report backend round trips per event: `GET /stats` answers
//! `{"event_calls", "distinct_events", "join_calls", "initial_state_calls"}`.
//!
//! ```sh
//! cargo run --release --example minimal_backend -- 127.0.0.1:8100
//! tabhub --app-url http://127.0.0.1:8100/tabhub
//! ```

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

/// What tabhub asked so far.
#[derive(Default)]
struct Counts {
    event_calls: AtomicU64,
    join_calls: AtomicU64,
    initial_state_calls: AtomicU64,
    /// `(key, event id)` of every event seen: a second call for one is a
    /// round trip the proxy should not have made.
    events: Mutex<HashSet<(String, String)>>,
}

/// `POST /tabhub/event`.
async fn event(counts: web::Data<Counts>, call: web::Json<Value>) -> HttpResponse {
    counts.event_calls.fetch_add(1, Ordering::Relaxed);
    let key = call["key"].as_str().unwrap_or_default().to_owned();
    let id = call["event"]["id"].as_str().unwrap_or_default().to_owned();
    if let Ok(mut seen) = counts.events.lock() {
        seen.insert((key, id));
    }
    let payload = &call["event"]["payload"];
    let answer = match call["event"]["name"].as_str() {
        Some("add_todo") => {
            let todo = json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "text": payload["text"],
                "done": false,
            });
            json!({"patch": [{"op": "add", "path": "/todos/-", "value": todo}]})
        }
        Some("toggle_todo") => {
            let todos = call["state"]["todos"].as_array();
            let found = todos.and_then(|todos| {
                todos
                    .iter()
                    .position(|t| t["id"] == payload["id"])
                    .map(|i| (i, todos[i]["done"].as_bool().unwrap_or(false)))
            });
            match found {
                Some((i, done)) => json!({"patch": [
                    {"op": "replace", "path": format!("/todos/{i}/done"), "value": !done}
                ]}),
                None => json!({"error": {"reason": "handler_error", "message": "no such todo"}}),
            }
        }
        _ => {
            json!({"error": {"reason": "unknown_event", "message": "not an event of this backend"}})
        }
    };
    HttpResponse::Ok().json(answer)
}

/// `POST /tabhub/join`: everyone may join.
async fn join(counts: web::Data<Counts>) -> HttpResponse {
    counts.join_calls.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok().json(json!({"allow": true}))
}

/// `POST /tabhub/initial_state`.
async fn initial_state(counts: web::Data<Counts>) -> HttpResponse {
    counts.initial_state_calls.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok().json(json!({"state": {"todos": []}}))
}

/// `GET /stats`.
async fn stats(counts: web::Data<Counts>) -> HttpResponse {
    let distinct = counts.events.lock().map(|s| s.len()).unwrap_or(0);
    HttpResponse::Ok().json(json!({
        "event_calls": counts.event_calls.load(Ordering::Relaxed),
        "distinct_events": distinct,
        "join_calls": counts.join_calls.load(Ordering::Relaxed),
        "initial_state_calls": counts.initial_state_calls.load(Ordering::Relaxed),
    }))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8100".to_owned());
    let counts = web::Data::new(Counts::default());
    HttpServer::new(move || {
        App::new()
            .app_data(counts.clone())
            .app_data(web::JsonConfig::default().limit(16 * 1024 * 1024))
            .route("/tabhub/event", web::post().to(event))
            .route("/tabhub/join", web::post().to(join))
            .route("/tabhub/initial_state", web::post().to(initial_state))
            .route("/stats", web::get().to(stats))
    })
    .bind(bind)?
    .run()
    .await
}
