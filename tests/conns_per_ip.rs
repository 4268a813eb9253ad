//! Open sockets per peer address (`max_conns_per_ip`): past the limit an
//! upgrade gets HTTP 429 and no socket, the open ones keep working, and a
//! connection gives its place back however it ends. The test server is on
//! loopback, so every client here is 127.0.0.1.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use awc::ws::{CloseCode, CloseReason, Message};
use common::process::start_tabhub_with_env;
use common::{new_key, start_demo, Client, Server, WAIT};
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::Config;

fn limited_to(max_conns_per_ip: usize) -> Config {
    let mut config = Config::default();
    config.max_conns_per_ip = max_conns_per_ip;
    config
}

fn socket_url(server: &Server<Demo>, tab: &str) -> String {
    server
        .srv
        .url(&format!("/socket/websocket?vsn=2.0.0&tab_id={tab}"))
}

/// Expects the upgrade refused with HTTP 429.
async fn assert_too_many(url: &str) {
    match Client::try_connect_with(url, "t", &[]).await {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => assert_eq!(s.as_u16(), 429),
        Err(e) => panic!("expected HTTP 429, got {e}"),
        Ok(_) => panic!("expected HTTP 429, got a socket"),
    }
}

/// Waits until the hub counts `n` open connections.
async fn until_connections(server: &Server<Demo>, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let open = server.hub.stats().await.unwrap().connections;
        if open == n {
            return;
        }
        assert!(Instant::now() < deadline, "{open} connections, not {n}");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn the_connection_past_the_limit_gets_429_and_the_others_keep_working() {
    let (server, _store) = start_demo(limited_to(2));
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let (mut a_view, _) = a.join_mirror(&key, None).await;
    b.join(&key, None).await;

    assert_too_many(&socket_url(&server, "c")).await;
    assert_eq!(server.hub.stats().await.unwrap().connections, 2);

    // The open ones are untouched: b's event reaches a as a delta.
    let r = b.event(&key, "add_todo", json!({"text": "milk"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    a.catch_up(&key, &mut a_view, 1).await;
    assert_eq!(a_view.state["todos"][0]["text"], "milk");

    // The refusal says why, in plain text.
    let mut response = awc::Client::default()
        .get(socket_url(&server, "c"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let body = response.body().await.unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("at most 2"), "{body}");
}

#[actix_rt::test]
async fn a_connection_the_client_closes_gives_its_place_back() {
    let (server, _store) = start_demo(limited_to(1));
    let mut a = Client::connect(&server, "a").await;
    assert_too_many(&socket_url(&server, "b")).await;

    a.send_message(Message::Close(Some(CloseReason::from(CloseCode::Normal))))
        .await;
    assert_eq!(a.expect_close().await, 1000);
    until_connections(&server, 0).await;
    let mut b = Client::connect(&server, "b").await;
    b.join(&new_key(), None).await;
}

#[actix_rt::test]
async fn a_connection_dropped_without_a_close_gives_its_place_back() {
    let (server, _store) = start_demo(limited_to(1));
    let a = Client::connect(&server, "a").await;
    // Counted first (the count follows the upgrade a moment later).
    until_connections(&server, 1).await;
    drop(a);
    until_connections(&server, 0).await;
    Client::connect(&server, "b").await;
}

#[actix_rt::test]
async fn a_connection_the_server_closes_gives_its_place_back() {
    // A client that answers no ping is closed after the client timeout.
    let mut config = limited_to(1);
    config.client_timeout = Duration::from_millis(300);
    let (server, _store) = start_demo(config);
    let _silent = Client::connect(&server, "a").await;
    until_connections(&server, 1).await;
    until_connections(&server, 0).await;
    Client::connect(&server, "b").await;

    // A takeover (the same tab id on a new connection) closes the old one
    // with 4001, and its place goes to the next connection.
    let (server, _store) = start_demo(limited_to(2));
    let key = new_key();
    let mut old = Client::connect(&server, "a").await;
    old.join(&key, None).await;
    let mut new = Client::connect(&server, "a").await;
    new.join(&key, None).await;
    assert_eq!(old.expect_close().await, 4001);
    until_connections(&server, 1).await;
    Client::connect(&server, "b").await;
}

#[actix_rt::test]
async fn an_upgrade_that_fails_its_handshake_holds_no_place() {
    let (server, _store) = start_demo(limited_to(1));
    let url = socket_url(&server, "a");
    for _ in 0..3 {
        // Not a WebSocket handshake: refused after the address was counted.
        let response = awc::Client::default().get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400);
    }
    Client::connect(&server, "a").await;
}

#[actix_rt::test]
async fn zero_means_no_limit() {
    let (server, _store) = start_demo(limited_to(0));
    let mut open = Vec::new();
    for n in 0..20 {
        open.push(Client::connect(&server, &format!("t{n}")).await);
    }
    until_connections(&server, 20).await;
}

#[actix_rt::test]
async fn the_binary_takes_the_limit_from_the_environment() {
    let env = [("TABHUB_MAX_CONNS_PER_IP", "1")];
    let (_server, addr) = start_tabhub_with_env(&["--store", "memory"], &env);
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let mut first = Client::connect_url(&url, "t1").await;
    first.join(&new_key(), None).await;
    assert_too_many(&url).await;
}

/// Opens a socket that says it comes through a proxy for `client`.
async fn via_proxy(
    server: &Server<Demo>,
    tab: &str,
    client: &str,
) -> Result<Client, awc::error::WsClientError> {
    Client::try_connect_with(
        &socket_url(server, tab),
        tab,
        &[("x-forwarded-for", client)],
    )
    .await
}

/// Expects `opened` refused with HTTP 429, saying `why` otherwise.
fn assert_429(opened: Result<Client, awc::error::WsClientError>, why: &str) {
    match opened {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => {
            assert_eq!(s.as_u16(), 429, "{why}")
        }
        Err(e) => panic!("{why}: expected HTTP 429, got {e}"),
        Ok(_) => panic!("{why}: expected HTTP 429, got a socket"),
    }
}

#[actix_rt::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_places_and_elsewhere_the_header_is_ignored(
) {
    // Loopback is the trusted proxy: its X-Forwarded-For names the client.
    let mut config = limited_to(1);
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let (server, _store) = start_demo(config);
    let _one = via_proxy(&server, "a", "198.51.100.1").await.unwrap();
    let _two = via_proxy(&server, "b", "198.51.100.2").await.unwrap();
    let again = via_proxy(&server, "c", "198.51.100.1").await;
    assert_429(again, "the first client's one place is taken");

    // Not trusted: the header is the client's own word, and ignored.
    let (server, _store) = start_demo(limited_to(1));
    let _one = via_proxy(&server, "a", "198.51.100.1").await.unwrap();
    let other = via_proxy(&server, "b", "198.51.100.2").await;
    assert_429(other, "every socket is 127.0.0.1's");
}
