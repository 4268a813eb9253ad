//! The routes an app mounts: by default the socket at `/socket/websocket`,
//! `/healthz` and the client script at `/tabhub.js`, which answers `GET`
//! and `HEAD` with an `ETag` and `304` on a match; an app may move the
//! socket and leave out the health check and the script.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use actix_web::App as WebApp;
use common::{new_key, Client};
use tabhub::demo::Demo;
use tabhub::{Config, Hub, MemoryStore};

#[actix_rt::test]
async fn the_client_script_answers_get_and_head_with_an_etag_and_304_when_it_matches() {
    let (server, _store) = common::start_demo(Config::default());
    let url = server.srv.url("/tabhub.js");
    let client = awc::Client::default();
    let mut got = client.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    let etag = got
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(got.headers().get("cache-control").unwrap(), "no-cache");
    let body = got.body().limit(1 << 22).await.unwrap();
    assert_eq!(body.as_ref(), tabhub::service::CLIENT_JS.as_bytes());

    let mut head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers().get("etag").unwrap().to_str().unwrap(), etag);
    assert!(head.body().await.unwrap().is_empty(), "HEAD has no body");

    let mut again = client
        .get(&url)
        .insert_header(("if-none-match", etag.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.body().await.unwrap().is_empty());
    let other = client
        .get(&url)
        .insert_header(("if-none-match", "\"an-old-version\""))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another tag gets the script");
}

#[actix_rt::test]
async fn an_app_mounts_the_socket_at_its_own_path_and_leaves_out_healthz_and_the_script() {
    let hub = Hub::start(
        Demo::default(),
        Config::default(),
        Arc::new(MemoryStore::new()),
    );
    let routes = hub
        .routes()
        .socket_path("/live/websocket")
        .without_healthz()
        .without_client()
        .configure();
    let srv = actix_test::start(move || WebApp::new().configure(routes.clone()));
    let client = awc::Client::default();
    for gone in ["/healthz", "/tabhub.js", "/socket/websocket"] {
        let r = client.get(srv.url(gone)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{gone} is not mounted");
    }
    let mut tab = Client::connect_url(&srv.url("/live/websocket?vsn=2.0.0&tab_id=a"), "a").await;
    let reply = tab.join(&new_key(), None).await;
    assert_eq!(reply["seq"], 0);
}
