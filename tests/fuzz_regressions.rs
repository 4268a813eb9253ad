//! The fuzz targets' invariants (`fuzz/src/lib.rs`, included here) run by
//! `cargo test` on the seed inputs and on every input a fuzzer or its
//! oracle found wrong, so a finding stays fixed without cargo-fuzz or a
//! nightly toolchain. Findings that reach the server are also sent over a
//! real socket. `docs/fuzzing.md` has the fuzzing runs.

#![allow(clippy::unwrap_used)]

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::fs;
use std::path::Path;

use common::{new_key, start_demo, Client};
use serde_json::json;
use tabhub::Config;

/// Every file of `fuzz/seeds/<target>/`, through that target's checks.
fn seeds(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        check(&fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn the_seed_inputs_pass_every_target() {
    // Each target's seeds, and the others' too: any input is fair.
    for check in [checks::check_frame, checks::check_join, checks::check_event] {
        for target in ["frame", "join", "event"] {
            seeds(target, check);
        }
    }
}

/// A frame with a `join_ref` over its bound and a payload nested past the
/// JSON parser's own limit (128).
fn long_ref_and_too_deep() -> String {
    format!(
        r#"["{}","1","session:k","event",{{"p":{}1{}}}]"#,
        "x".repeat(200),
        "[".repeat(130),
        "]".repeat(130)
    )
}

/// Finding 1 (the frame target's oracle, 2026-12-06): such a frame was
/// refused as "too deep" and answered with an error reply echoing the
/// over-long `join_ref`, while the same frame nested less deeply was
/// malformed. `Refused` is documented as "routing members are fine".
#[test]
fn a_long_ref_with_a_payload_past_the_parser_limit_is_malformed() {
    let text = long_ref_and_too_deep();
    checks::check_frame(text.as_bytes());
    match tabhub::protocol::frame::decode_bounded(&text, 32) {
        Err(tabhub::protocol::frame::FrameError::Malformed(_)) => {}
        other => panic!("expected malformed, got {other:?}"),
    }
}

/// Finding 1 over a real socket: the connection is closed with 1007 (no
/// reply echoing the ref), and another tab of the session carries on.
#[actix_rt::test]
async fn a_long_ref_with_a_payload_past_the_parser_limit_closes_with_1007() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut b = Client::connect(&server, "bystander").await;
    b.join(&key, None).await;
    let mut a = Client::connect(&server, "attacker").await;
    a.join(&key, None).await;
    a.send_text(&long_ref_and_too_deep()).await;
    assert_eq!(a.expect_close().await, 1007);
    let r = b.event(&key, "add_todo", json!({"text": "after"})).await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));
}
