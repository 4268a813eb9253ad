//! The official Phoenix JavaScript client (npm `phoenix` over npm `ws`, run
//! by Node) against the real `tabhub` binary: join, push, a server-side drop
//! for silence (1001), phoenix's own reconnect and rejoin with its cursor.
//! The client side is `tests/js/phoenix_client.mjs`; it needs
//! `npm ci --prefix tests/js` first.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::{start_tabhub, Guard};

/// The server's client timeout: short, so the silent client is dropped soon.
const CLIENT_TIMEOUT_MS: u64 = 1500;
/// How long the Node script may run (it has its own 20 s timeout).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(40);

#[test]
fn the_official_phoenix_js_client_joins_pushes_and_rejoins_with_its_cursor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "Node.js is required for this test: `node --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("Node.js is required for this test: cannot run `node --version`: {e}"),
    }
    assert!(
        root.join("tests/js/node_modules/phoenix").is_dir()
            && root.join("tests/js/node_modules/ws").is_dir(),
        "tests/js/node_modules lacks phoenix or ws: run `npm ci --prefix tests/js` first"
    );

    let (server, addr) = start_tabhub(&["--client-timeout-ms", &CLIENT_TIMEOUT_MS.to_string()]);

    let mut node = Command::new("node");
    node.current_dir(root).args([
        "tests/js/phoenix_client.mjs",
        &format!("ws://{addr}/socket"),
        &CLIENT_TIMEOUT_MS.to_string(),
    ]);
    let mut script = Guard::spawn(node);
    let status = script.wait_for(SCRIPT_TIMEOUT);
    let report = format!(
        "=== node tests/js/phoenix_client.mjs ===\n{}\n=== tabhub ===\n{}",
        script.output(),
        server.output()
    );
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("the phoenix.js client failed ({status})\n{report}"),
        None => panic!("the phoenix.js client did not finish within {SCRIPT_TIMEOUT:?}\n{report}"),
    }
}
