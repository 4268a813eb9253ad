//! Graceful restart with the official Phoenix JavaScript client (npm
//! `phoenix` over npm `ws`, run by Node) against the real `tabhub` binary
//! and its redb store: tabs see the 1012 close on SIGTERM, the process exits
//! 0, phoenix reconnects by itself once the binary is back (same port, same
//! data dir) and the tabs resume by `current` or `replay`, never
//! `snapshot`, with their state intact; a tab a few deltas behind gets
//! exactly those deltas.
//!
//! The scenario lives in `tests/js/phoenix_restart.mjs`, which starts and
//! restarts the binary itself; it needs `npm ci --prefix tests/js` first.

mod common;

use std::time::Duration;

use common::node::{self, TempDir};

#[test]
fn the_official_phoenix_client_survives_a_graceful_restart_and_resumes_by_replay() {
    node::require(&["phoenix", "ws"]);
    let data = TempDir::new("tabhub-restart");
    let dir = data.0.to_string_lossy().into_owned();
    let run = node::run(
        &["tests/js/phoenix_restart.mjs"],
        &[("TABHUB_DATA", &dir)],
        Duration::from_secs(60),
    );
    run.assert_success(&format!("(TABHUB_DATA={dir})"));
}
