//! The `tabhub` binary as a service: health check, configuration from the
//! environment, and graceful shutdown on SIGTERM (1012 to every tab, exit 0).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::process::{start_tabhub, start_tabhub_with_env};
use common::{new_key, Client};
use serde_json::json;

fn socket_url(addr: SocketAddr, tab: &str) -> String {
    format!("http://{addr}/socket/websocket?vsn=2.0.0&tab_id={tab}")
}

#[actix_rt::test]
async fn the_binary_serves_healthz_and_the_demo_and_on_sigterm_closes_tabs_with_1012_and_exits_0() {
    let (mut server, addr) = start_tabhub(&[]);
    let mut health = awc::Client::default()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap(),
        json!({"status": "ok"})
    );

    let key = new_key();
    let mut tab = Client::connect_url(&socket_url(addr, "t1"), "t1").await;
    tab.join(&key, None).await;
    let r = tab
        .event(&key, "add_todo", json!({"text": "from the binary"}))
        .await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));

    server.terminate();
    assert_eq!(tab.expect_close().await, 1012);
    let status = server
        .wait_for(Duration::from_secs(10))
        .expect("exits within 10 s of SIGTERM");
    assert!(
        status.success(),
        "exit status {status}\n{}",
        server.output()
    );
    assert!(
        server.output().contains("sessions saved"),
        "{}",
        server.output()
    );
}

#[actix_rt::test]
async fn the_binary_takes_its_limits_from_the_environment() {
    let (_server, addr) = start_tabhub_with_env(&[], &[("TABHUB_MAX_TABS_PER_SESSION", "1")]);
    let key = new_key();
    let mut a = Client::connect_url(&socket_url(addr, "a"), "a").await;
    a.join(&key, None).await;
    let mut b = Client::connect_url(&socket_url(addr, "b"), "b").await;
    let r = b.join_with(&key, json!({})).await;
    assert_eq!(r["response"]["reason"], "too_many_tabs");
}
