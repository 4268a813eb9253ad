//! The official Phoenix JavaScript client (npm `phoenix` over npm `ws`, run
//! by Node) against the real `tabhub` binary: join, push, a server-side drop
//! for silence (1001), phoenix's own reconnect and rejoin with its cursor;
//! reply data and the app's own reasons (`tests/js/phoenix_replies.mjs`).
//! The client side is `tests/js/phoenix_client.mjs`; it needs
//! `npm ci --prefix tests/js` first.

mod common;

use std::time::Duration;

use common::node;
use common::process::start_tabhub;

/// The server's client timeout: short, so the silent client is dropped soon.
const CLIENT_TIMEOUT_MS: &str = "1500";

#[test]
fn the_official_phoenix_js_client_joins_pushes_and_rejoins_with_its_cursor() {
    node::require(&["phoenix", "ws"]);
    let (server, addr) = start_tabhub(&["--client-timeout-ms", CLIENT_TIMEOUT_MS]);
    let url = format!("ws://{addr}/socket");
    let run = node::run(
        &["tests/js/phoenix_client.mjs", &url, CLIENT_TIMEOUT_MS],
        &[],
        Duration::from_secs(40),
    );
    run.assert_success(&format!("=== tabhub ===\n{}", server.output()));
}

#[test]
fn the_official_phoenix_js_client_gets_reply_data_and_the_apps_own_reasons() {
    node::require(&["phoenix", "ws"]);
    let (server, addr) = start_tabhub(&[]);
    let url = format!("ws://{addr}/socket");
    let run = node::run(
        &["tests/js/phoenix_replies.mjs", &url],
        &[],
        Duration::from_secs(30),
    );
    run.assert_success(&format!("=== tabhub ===\n{}", server.output()));
}
