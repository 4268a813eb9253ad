//! Which pages may open a socket: the upgrade's `Origin` is checked before
//! the app's connect hook, and a refused one gets HTTP 403 with no socket.
//! By default a page from the host the request was sent to, or from
//! localhost, is accepted, and so is a client that sends no `Origin` (not a
//! browser); `allowed_origins` (`--allowed-origin`) replaces that default.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub, missing_docs)]

mod common;

use common::process::start_tabhub_with_env;
use common::{new_key, start_demo, Client, Server};
use tabhub::demo::Demo;
use tabhub::Config;

fn socket_url(server: &Server<Demo>) -> String {
    server.srv.url("/socket/websocket?vsn=2.0.0&tab_id=t1")
}

fn allowing(origins: &[&str]) -> Config {
    let mut config = Config::default();
    config.allowed_origins = origins.iter().map(|o| (*o).to_owned()).collect();
    config
}

/// Opens a socket with these request headers; joins a fresh key on it to
/// show it is usable.
async fn accepted(url: &str, headers: &[(&str, &str)]) {
    let mut client = Client::try_connect_with(url, "t1", headers)
        .await
        .unwrap_or_else(|e| panic!("expected a socket for {headers:?}, got {e}"));
    client.join(&new_key(), None).await;
}

/// Expects the upgrade with these headers refused with HTTP `status`.
async fn refused(url: &str, headers: &[(&str, &str)], status: u16) {
    match Client::try_connect_with(url, "t1", headers).await {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => {
            assert_eq!(s.as_u16(), status, "{headers:?}")
        }
        Err(e) => panic!("expected HTTP {status} for {headers:?}, got {e}"),
        Ok(_) => panic!("expected HTTP {status} for {headers:?}, got a socket"),
    }
}

#[actix_rt::test]
async fn a_page_from_another_site_is_refused_with_403_and_no_connection_is_counted() {
    let (server, _store) = start_demo(Config::default());
    let url = socket_url(&server);
    refused(&url, &[("origin", "https://evil.example")], 403).await;
    let stats = server.hub.stats().await.unwrap();
    assert_eq!(stats.connections, 0);

    // The refusal says why, in plain text, before any upgrade is attempted.
    let mut response = awc::Client::default()
        .get(&url)
        .insert_header(("origin", "https://evil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let content_type = response.headers().get("content-type").unwrap();
    assert_eq!(content_type, "text/plain; charset=utf-8");
    let body = response.body().await.unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(body.starts_with("origin not allowed"), "{body}");
}

#[actix_rt::test]
async fn a_page_from_the_host_the_socket_is_on_is_accepted() {
    let (server, _store) = start_demo(Config::default());
    let url = socket_url(&server);
    let host = ("host", "app.example.com");
    accepted(&url, &[host, ("origin", "https://app.example.com")]).await;
    accepted(&url, &[host, ("origin", "http://APP.example.com")]).await;
    refused(&url, &[host, ("origin", "https://evil.example")], 403).await;
    let other_port = [
        ("host", "app.example.com:8080"),
        ("origin", "https://app.example.com"),
    ];
    refused(&url, &other_port, 403).await;

    // The test server's own address, as a page served by it would send it.
    let own = server.srv.url("/").trim_end_matches('/').to_owned();
    accepted(&url, &[("origin", &own)]).await;
}

#[actix_rt::test]
async fn a_page_served_from_localhost_is_accepted_on_any_port() {
    let (server, _store) = start_demo(Config::default());
    let url = socket_url(&server);
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:3000",
        "http://[::1]:8080",
    ] {
        accepted(&url, &[("host", "app.example.com"), ("origin", origin)]).await;
    }
}

#[actix_rt::test]
async fn a_client_without_an_origin_is_not_a_browser_and_is_accepted() {
    let (server, _store) = start_demo(Config::default());
    accepted(&socket_url(&server), &[("host", "app.example.com")]).await;
}

#[actix_rt::test]
async fn a_null_or_malformed_origin_is_refused() {
    let (server, _store) = start_demo(Config::default());
    let url = socket_url(&server);
    for origin in ["null", "localhost:3000", "http://localhost:3000/page"] {
        refused(&url, &[("origin", origin)], 403).await;
    }
    let two = [
        ("origin", "http://localhost"),
        ("origin", "http://localhost"),
    ];
    let mut request = awc::Client::default().ws(&url);
    for (name, value) in two {
        request = request.header(name, value);
    }
    match request.connect().await {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => assert_eq!(s.as_u16(), 403),
        other => panic!("two Origin headers: expected 403, got {:?}", other.err()),
    }
}

#[actix_rt::test]
async fn allowed_origins_replace_the_default_and_are_compared_exactly() {
    let (server, _store) = start_demo(allowing(&["https://app.example.com"]));
    let url = socket_url(&server);
    accepted(&url, &[("origin", "https://app.example.com")]).await;

    // The page's own host and localhost are no longer enough.
    let same_host = [
        ("host", "www.example.com"),
        ("origin", "https://www.example.com"),
    ];
    refused(&url, &same_host, 403).await;
    refused(&url, &[("origin", "http://localhost:3000")], 403).await;
    // Scheme and port are part of the origin.
    refused(&url, &[("origin", "http://app.example.com")], 403).await;
    refused(&url, &[("origin", "https://app.example.com:8443")], 403).await;
    // Clients that are not browsers still connect.
    accepted(&url, &[]).await;
}

#[actix_rt::test]
async fn a_star_accepts_pages_from_anywhere() {
    let (server, _store) = start_demo(allowing(&["*"]));
    let url = socket_url(&server);
    for origin in ["https://evil.example", "null", "http://localhost:3000"] {
        accepted(&url, &[("host", "app.example.com"), ("origin", origin)]).await;
    }
}

#[actix_rt::test]
async fn the_binary_takes_allowed_origins_comma_separated_from_the_environment() {
    let env = [(
        "TABHUB_ALLOWED_ORIGIN",
        "https://app.example.com, https://admin.example.com",
    )];
    let (_server, addr) = start_tabhub_with_env(&["--store", "memory"], &env);
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    accepted(&url, &[("origin", "https://admin.example.com")]).await;
    accepted(&url, &[("origin", "https://app.example.com")]).await;
    refused(&url, &[("origin", "https://evil.example")], 403).await;
    refused(&url, &[("origin", &format!("http://{addr}"))], 403).await;
}

/// The `Access-Control-Allow-Origin` of `GET /tabhub.js` from a page of
/// `origin`, if any.
async fn client_cors(server: &Server<Demo>, origin: &str) -> Option<String> {
    let response = awc::Client::default()
        .get(server.srv.url("/tabhub.js"))
        .insert_header(("origin", origin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("vary").unwrap(), "Origin");
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[actix_rt::test]
async fn the_client_script_may_be_imported_by_the_pages_that_may_open_a_socket() {
    // By default: a dev server on localhost (any port), not another site.
    let (server, _store) = start_demo(Config::default());
    let vite = "http://localhost:5173";
    assert_eq!(client_cors(&server, vite).await.as_deref(), Some(vite));
    assert_eq!(client_cors(&server, "https://evil.example").await, None);

    // With allowed origins: exactly those.
    let app = "https://app.example.com";
    let (server, _store) = start_demo(allowing(&[app]));
    assert_eq!(client_cors(&server, app).await.as_deref(), Some(app));
    assert_eq!(client_cors(&server, vite).await, None);
}
