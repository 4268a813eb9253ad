//! The client's TypeScript API, checked by strict `tsc -p tests/js/types`
//! (nothing emitted): typed events (`Session<State, Events>` checks
//! `push`'s name and payload and types its reply), and the embed example's
//! Rust types as ts-rs emits them (examples/embed-events.ts) typing a
//! session. Each program there holds `@ts-expect-error` lines, so the check
//! fails if the types get looser as well as if they break. Needs Node.js
//! and `npm ci --prefix tests/js` (TypeScript); it fails, never skips, when
//! one is missing.

mod common;

use std::time::Duration;

use common::node;

#[test]
fn typed_sessions_check_event_names_payloads_and_replies_under_strict_typescript() {
    node::require(&["typescript"]);
    let project = node::root().join("tests/js/types/tsconfig.json");
    assert!(project.is_file(), "{} is missing", project.display());
    node::run(
        &[
            "tests/js/node_modules/typescript/bin/tsc",
            "-p",
            "tests/js/types",
        ],
        &[],
        Duration::from_secs(120),
    )
    .assert_success("tsc -p tests/js/types");
}
