//! A slow socket never grows server memory without bound: when a tab's
//! outbound buffer is full its join gets `phx_error`, and the tab rejoins
//! with its cursor and catches up.

#![allow(clippy::unwrap_used)]

mod common;

use common::{new_key, start_demo, Client};
use serde_json::json;
use tabhub::Config;

#[actix_rt::test]
async fn a_tab_that_stops_reading_gets_phx_error_and_catches_up_on_rejoin() {
    let mut config = Config::default();
    config.outbound_max_bytes = 256 * 1024;
    config.max_frame_bytes = 1024 * 1024;
    // The state grows to ~24 MiB of todos.
    config.max_state_bytes = 64 * 1024 * 1024;
    config.rate_events_per_sec = 0;
    // Long enough that the connection is never cut while the test
    // produces deltas, however slow the machine (`slow_consumer.rs`
    // covers the cut).
    config.slow_client_timeout = std::time::Duration::from_secs(120);
    let (server, _store) = start_demo(config);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut slow = Client::connect(&server, "slow").await;
    let (mut slow_view, _) = slow.join_mirror(&key, None).await;
    let mut fast = Client::connect(&server, "fast").await;
    let (mut fast_view, _) = fast.join_mirror(&key, None).await;

    // `slow` reads nothing while ~24 MiB of deltas are produced: more than
    // loopback socket buffers hold, so its outbound buffer must fill.
    let text = "x".repeat(64 * 1024);
    for _ in 0..384 {
        let r = fast.event(&key, "add_todo", json!({"text": text})).await;
        assert_eq!(r["status"], "ok");
    }
    let last = fast_view.seq + 384;
    fast.catch_up(&key, &mut fast_view, last).await;

    // Now `slow` reads: gapless deltas, then phx_error for its join.
    let errored = loop {
        let m = slow.next_msg().await;
        match m.event.as_str() {
            "delta" => slow_view.apply_delta(&m.payload),
            "phx_error" => break m,
            _ => {}
        }
    };
    assert_eq!(errored.topic, topic);
    assert!(
        slow_view.seq < last,
        "the buffer overflowed before every delta was sent"
    );

    // Rejoining with its cursor brings it up to date.
    let r = slow.join(&key, Some(slow_view.cursor())).await;
    slow_view.apply_join(&r);
    assert_eq!(slow_view.seq, last);
    assert_eq!(slow_view.state, fast_view.state);
}
