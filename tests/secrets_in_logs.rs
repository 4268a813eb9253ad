//! A session key is a bearer secret: whoever has it joins the session. The
//! logs show only its short form (six characters and `…`), at every level.
//! The real binary runs with `RUST_LOG=trace` in front of a backend
//! (`--app-url`) with the server API on, and is driven through every path
//! that names a key: a tab's join and events over a WebSocket, the
//! backend's calls (one failing), the server API (one request refused), and
//! a cancel whose `URL/cancel` cannot reach the backend. Its whole output
//! is then searched for the full key.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::fault_backend::{answering, FaultBackend};
use common::process::start_tabhub_with_env;
use common::{new_key, Client};
use serde_json::{json, Value};

const TOKEN: &str = "test-api-token";

/// `METHOD http://addr/api/sessions/KEY/rest`, with the token unless
/// `token` is `None`; the status and the body.
async fn api(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let url = format!("http://{addr}/api/sessions/{path}");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(20))
        .finish();
    let mut request = match method {
        "GET" => client.get(url),
        _ => client.post(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await.unwrap(),
        None => request.send().await.unwrap(),
    };
    let status = response.status().as_u16();
    let bytes = response.body().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[actix_rt::test]
async fn no_full_session_key_is_logged_at_trace_level_on_any_path() {
    let backend = FaultBackend::start();
    let url = backend.url();
    let (mut server, addr) = start_tabhub_with_env(
        &[
            "--store",
            "memory",
            "--app-url",
            &url,
            "--api-token",
            TOKEN,
            "--app-timeout-ms",
            "2000",
        ],
        &[("RUST_LOG", "trace")],
    );
    let key = new_key();

    // A tab joins (URL/join, URL/initial_state) and submits events: one
    // that starts a task, one the backend fails with a 500.
    let socket = format!("http://{addr}/socket/websocket?vsn=2.0.0&tab_id=a");
    let mut tab = Client::connect_url(&socket, "a").await;
    let joined = tab.join(&key, None).await;
    assert_eq!(joined["seq"], 0, "{joined}");
    let started = tab
        .event(
            &key,
            "answer",
            answering(json!({"tasks": {"start": ["job"]}})),
        )
        .await;
    assert_eq!(started["status"], "ok", "{started}");
    let failed = tab.event(&key, "status_500", json!({})).await;
    assert_eq!(failed["response"]["reason"], "backend_error", "{failed}");

    // The server API: a submit, a read, a refused request.
    let (status, submitted) = api(
        addr,
        "POST",
        &format!("{key}/events"),
        Some(json!({"id": "api-1", "name": "echo", "payload": {}})),
        Some(TOKEN),
    )
    .await;
    assert_eq!((status, &submitted["status"]), (200, &json!("ok")));
    let (status, read) = api(addr, "GET", &key, None, Some(TOKEN)).await;
    assert_eq!(status, 200, "{read}");
    let (status, _) = api(addr, "GET", &key, None, Some("wrong-token")).await;
    assert_eq!(status, 401);

    // The backend goes away: the cancel's URL/cancel fails, and is logged.
    backend.srv.stop().await;
    let (status, cancelled) = api(
        addr,
        "POST",
        &format!("{key}/tasks/job/cancel"),
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["cancelled"], true);
    tab.wait_for(|m| m.event == "task" && m.payload["status"] == "cancelled")
        .await;
    // The failed URL/cancel runs after the cancel's reply: wait for its
    // warning before stopping the process.
    let deadline = std::time::Instant::now() + common::WAIT;
    while !server.output().contains("cancel failed") {
        assert!(
            std::time::Instant::now() < deadline,
            "the failed URL/cancel was never logged\n{}",
            server.output()
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    drop(tab);

    server.terminate();
    assert!(
        server.wait_for(Duration::from_secs(20)).is_some(),
        "tabhub did not stop on SIGTERM"
    );
    let output = server.output();
    let short = format!("{}…", &key[..6]);
    assert!(
        output.contains(&short) && output.contains("TRACE"),
        "the run logged at trace level and named the session by its short key\n{output}"
    );
    let leaks: Vec<&str> = output.lines().filter(|l| l.contains(&key)).collect();
    assert!(
        leaks.is_empty(),
        "{} log lines hold the full key, e.g.:\n{}",
        leaks.len(),
        leaks.iter().take(5).copied().collect::<Vec<_>>().join("\n")
    );
}
