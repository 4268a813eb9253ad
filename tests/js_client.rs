//! The JavaScript client `tabhub.js`: runs `node --test tests/js/client/`
//! (Node's test runner) with `TABHUB_BIN` set to the binary under test. The
//! suite checks `applyPatch` against the JSON Patch conformance suite and
//! the client against the real binary: replay, snapshot, chains, effects,
//! MRU eviction and safe resume, reconnect after a server-side drop, and
//! rejoining by itself once an app proxy backend that was down answers
//! (`backend_outage.test.mjs`).
//! Needs Node.js and `npm ci --prefix tests/js`; it fails, never skips,
//! when one is missing.

mod common;

use std::time::Duration;

use common::node;

#[test]
fn the_javascript_client_passes_its_node_test_suite_against_the_real_binary() {
    node::require(&["ws"]);
    assert!(
        node::root().join("tests/js/client").is_dir(),
        "tests/js/client (the Node tests) is missing"
    );
    // Every Node test has its own 30 s timeout; this is the last resort.
    node::run(
        &["--test", "tests/js/client/"],
        &[],
        Duration::from_secs(300),
    )
    .assert_tests_passed();
}
