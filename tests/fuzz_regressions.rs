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
use std::sync::Arc;

use checks::ProbeEvent;
use common::{new_key, start_demo, start_server, Client};
use serde_json::json;
use tabhub::{App, AppError, Config, Context, MemoryStore};

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

/// docs/fuzzing.md, finding 1 (the frame target's oracle): such a frame was
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

/// docs/fuzzing.md, finding 2 (the event target's oracle): `decode_tagged`
/// called a known event `unknown_event` when an enum inside its payload was
/// given a value equal to the event's name (serde's error for the inner
/// enum reads "unknown variant `paint`", as for an unknown event name).
#[test]
fn an_inner_enum_value_equal_to_the_event_name_is_invalid_payload() {
    for input in [
        r#"{"id":"p","name":"paint","payload":{"color":"paint"}}"#,
        r#"{"id":"b","name":"batch","payload":["red","batch"]}"#,
        r#"["1","5","session:k9Xc2LrT8vQw1ZpA7mN4sB","event",{"id":"p","name":"paint","payload":{"color":"paint"}}]"#,
    ] {
        checks::check_event(input.as_bytes());
    }
}

/// An app whose events carry an enum in their payload ([`ProbeEvent`]).
struct Painter;

impl App for Painter {
    type State = serde_json::Value;
    type Event = ProbeEvent;
    type Identity = ();
    async fn handle(
        &self,
        state: &mut serde_json::Value,
        event: ProbeEvent,
        _cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        *state = serde_json::to_value(event).map_err(|e| AppError::handler(e.to_string()))?;
        Ok(())
    }
}

/// Finding 2 over a real socket: the reply's reason is `invalid_payload`,
/// as docs/protocol.md section 6.2 (the event reply) says for a payload the
/// app cannot decode.
#[actix_rt::test]
async fn an_inner_enum_value_equal_to_the_event_name_gets_invalid_payload_over_a_socket() {
    let server = start_server(Painter, Config::default(), Arc::new(MemoryStore::new()));
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let r = a.event(&key, "paint", json!({"color": "paint"})).await;
    assert_eq!(r["response"]["reason"], "invalid_payload", "{r}");
    let r = a.event(&key, "no_such", json!({"color": "red"})).await;
    assert_eq!(r["response"]["reason"], "unknown_event", "{r}");
    let r = a.event(&key, "paint", json!({"color": "red"})).await;
    assert_eq!(r["status"], "ok", "{r}");
}
