//! `examples/cookie_auth.rs`, exercised: a user logs in over HTTP, gets a
//! signed session cookie, and with it opens a socket whose identity is that
//! user; the user joins their own keys and no one else's, and a socket
//! without the cookie, or with a forged one, is refused with HTTP 401
//! before the upgrade.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub, missing_docs)]

mod common;
#[path = "../examples/cookie_auth.rs"]
mod cookie_auth;

use std::sync::Arc;

use actix_web::cookie::Key;
use actix_web::App as WebApp;
use common::Client;
use cookie_auth::{auth_routes, session_middleware, Todos, SESSION_COOKIE};
use serde_json::json;
use tabhub::{Config, Hub, MemoryStore};

/// The example's server, wired as its `main` does, on a free port.
fn start() -> (actix_test::TestServer, Hub<Todos>) {
    let hub = Hub::start(Todos, Config::default(), Arc::new(MemoryStore::new()));
    let tabhub_routes = hub.configure();
    let key = Key::generate();
    let srv = actix_test::start(move || {
        WebApp::new()
            .wrap(session_middleware(key.clone()))
            .configure(auth_routes)
            .configure(tabhub_routes.clone())
    });
    (srv, hub)
}

/// `POST /login`; the `name=value` of the session cookie it sets, as a
/// browser would send it back.
async fn login(srv: &actix_test::TestServer, user: &str, password: &str) -> String {
    let resp = awc::Client::default()
        .post(srv.url("/login"))
        .send_json(&json!({ "user": user, "password": password }))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "login of {user}");
    let set_cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("{SESSION_COOKIE}=")),
        "{cookie}"
    );
    cookie
}

fn socket_url(srv: &actix_test::TestServer, tab: &str) -> String {
    srv.url(&format!("/socket/websocket?vsn=2.0.0&tab_id={tab}"))
}

/// A fresh key owned by `user` (the example's scheme: `<user>_...`).
fn key_of(user: &str) -> String {
    format!("{user}_{}", uuid::Uuid::new_v4().simple())
}

/// Connects with the given headers and expects the upgrade refused with
/// `status`.
async fn assert_refused(url: &str, headers: &[(&str, &str)], status: u16) {
    match Client::try_connect_with(url, "t1", headers).await {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => {
            assert_eq!(s.as_u16(), status, "{headers:?}")
        }
        Err(e) => panic!("expected HTTP {status}, got {e}"),
        Ok(_) => panic!("expected HTTP {status}, got a socket"),
    }
}

#[actix_rt::test]
async fn a_logged_in_user_joins_their_own_key_and_handlers_see_who_they_are() {
    let (srv, _hub) = start();
    let cookie = login(&srv, "alice", "alice-demo").await;
    let mut alice = Client::try_connect_with(&socket_url(&srv, "t1"), "t1", &[("cookie", &cookie)])
        .await
        .unwrap();
    let own = key_of("alice");
    let (mut m, _) = alice.join_mirror(&own, None).await;

    let r = alice.event(&own, "add_todo", json!({"text": "milk"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    alice.catch_up(&own, &mut m, 1).await;
    assert_eq!(
        m.state["todos"],
        json!([{"text": "milk", "by": "alice"}]),
        "the handler recorded the connection's user"
    );
}

#[actix_rt::test]
async fn a_logged_in_user_may_not_join_another_users_key() {
    let (srv, _hub) = start();
    let cookie = login(&srv, "alice", "alice-demo").await;
    let mut alice = Client::try_connect_with(&socket_url(&srv, "t1"), "t1", &[("cookie", &cookie)])
        .await
        .unwrap();
    let reply = alice
        .join_with(&key_of("bob"), json!({"cursor": null}))
        .await;
    assert_eq!(reply["status"], "error", "{reply}");
    assert_eq!(reply["response"]["reason"], "unauthorized", "{reply}");

    // The refusal is per join: the same socket still joins alice's keys.
    alice.join(&key_of("alice"), None).await;
}

#[actix_rt::test]
async fn a_socket_without_the_session_cookie_is_refused_with_401_before_the_upgrade() {
    let (srv, hub) = start();
    assert_refused(&socket_url(&srv, "t1"), &[], 401).await;
    assert_eq!(hub.stats().await.unwrap().connections, 0);
}

#[actix_rt::test]
async fn a_forged_session_cookie_is_refused_with_401_before_the_upgrade() {
    let (srv, hub) = start();
    let url = socket_url(&srv, "t1");
    let genuine = login(&srv, "alice", "alice-demo").await;

    // The signed cookie is readable: claim to be bob without bob's password.
    let forged = genuine.replace("alice", "bob");
    assert_ne!(forged, genuine, "the cookie names its user");
    assert_refused(&url, &[("cookie", &forged)], 401).await;

    // Any edit breaks the signature, even one character of it.
    let value_start = SESSION_COOKIE.len() + 1;
    let mut tampered = genuine.clone().into_bytes();
    tampered[value_start] = if tampered[value_start] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_refused(&url, &[("cookie", &tampered)], 401).await;

    // A cookie signed with another server's key is no better.
    let (other_srv, _other_hub) = start();
    let foreign = login(&other_srv, "bob", "bob-demo").await;
    assert_refused(&url, &[("cookie", &foreign)], 401).await;

    assert_eq!(hub.stats().await.unwrap().connections, 0);

    // While the genuine cookie still opens a socket.
    Client::try_connect_with(&url, "t1", &[("cookie", &genuine)])
        .await
        .unwrap();
}

#[actix_rt::test]
async fn a_wrong_password_gets_401_and_no_cookie() {
    let (srv, _hub) = start();
    let resp = awc::Client::default()
        .post(srv.url("/login"))
        .send_json(&json!({"user": "alice", "password": "bob-demo"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("set-cookie").is_none());
}

#[actix_rt::test]
async fn logout_tells_the_browser_to_drop_the_cookie() {
    let (srv, _hub) = start();
    let cookie = login(&srv, "alice", "alice-demo").await;
    let resp = awc::Client::default()
        .post(srv.url("/logout"))
        .insert_header(("cookie", cookie.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let removal = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        removal.starts_with(&format!("{SESSION_COOKIE}=;")) && removal.contains("Max-Age=0"),
        "{removal}"
    );
}

/// The example has no origin check of its own: tabhub's refuses the page
/// before the connect hook would read the cookie.
#[actix_rt::test]
async fn a_page_from_another_origin_is_refused_with_403_even_with_the_cookie() {
    let (srv, _hub) = start();
    let cookie = login(&srv, "alice", "alice-demo").await;
    let url = socket_url(&srv, "t1");
    let evil = [
        ("cookie", cookie.as_str()),
        ("origin", "https://evil.example"),
    ];
    assert_refused(&url, &evil, 403).await;

    let own_origin = srv.url("/").trim_end_matches('/').to_owned();
    let mut same =
        Client::try_connect_with(&url, "t1", &[("cookie", &cookie), ("origin", &own_origin)])
            .await
            .unwrap();
    same.join(&key_of("alice"), None).await;
}
