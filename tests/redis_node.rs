//! The `tabhub` binary keeping its sessions in a real `redis-server`
//! (`--redis-url`): killed with SIGKILL mid-stream and started again as a
//! new node, nothing acknowledged is lost and tabs resume by replay once
//! the killed node's lease has run out (docs/scale-out.md).
#![allow(clippy::unwrap_used)]

mod common;

use common::process::start_tabhub;
use common::redis::Redis;
use common::stream::{killed_mid_stream, Rejoin};
use common::{new_key, Client};
use serde_json::json;

#[actix_rt::test]
async fn a_node_on_redis_killed_mid_stream_three_times_loses_nothing_acknowledged() {
    let redis = Redis::start();
    let url = redis.url();
    let args = [
        "--redis-url",
        &url,
        "--redis-lease-ms",
        "500",
        "--rate-events-per-sec",
        "0",
    ];
    killed_mid_stream(&args, 3, Rejoin::WhileOwnedElsewhere).await;
}

#[actix_rt::test]
async fn a_session_stopped_on_one_node_is_served_by_another_which_it_gave_the_lease_up_to() {
    let redis = Redis::start();
    let url = redis.url();
    let args = ["--redis-url", &url, "--grace-ms", "50"];
    let (first, a) = start_tabhub(&args);
    let (_second, b) = start_tabhub(&args);
    let key = new_key();

    let mut tab = Client::connect_url(
        &format!("http://{a}/socket/websocket?vsn=2.0.0&tab_id=t1"),
        "t1",
    )
    .await;
    tab.join(&key, None).await;
    let r = tab.event(&key, "add_todo", json!({"text": "kept"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    drop(tab);

    // Node A stops the session after its grace time and gives its lease
    // up. Were it kept, A would renew it for as long as A runs, and node B
    // would refuse the join with store_error until this test gave up.
    let mut other = Client::connect_url(
        &format!("http://{b}/socket/websocket?vsn=2.0.0&tab_id=t2"),
        "t2",
    )
    .await;
    let joined = Rejoin::WhileOwnedElsewhere
        .join(&mut other, &key, None)
        .await;
    assert_eq!(joined["seq"], 1, "{joined}");
    assert_eq!(joined["state"]["todos"][0]["text"], "kept", "{joined}");
    drop(first);
}
