//! `examples/webhook.rs`, exercised: a POST to its webhook route submits an
//! event through the session handle while a tab is open; the tab sees the
//! delta and the effect, the route answers with the outcome, and a
//! redelivery (same delivery id) is applied once.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub, missing_docs)]

mod common;
#[path = "../examples/webhook.rs"]
mod webhook;

use std::sync::Arc;

use actix_web::App as WebApp;
use common::{new_key, Client};
use serde_json::{json, Value};
use tabhub::{Config, Hub, MemoryStore};

#[actix_rt::test]
async fn a_webhook_post_reaches_the_open_tabs_and_a_redelivery_is_applied_once() {
    let hub = Hub::start(
        webhook::Shop,
        Config::default(),
        Arc::new(MemoryStore::new()),
    );
    let tabhub_routes = hub.configure();
    let routes = webhook::webhook_routes(hub);
    let srv = actix_test::start(move || {
        WebApp::new()
            .configure(tabhub_routes.clone())
            .configure(routes.clone())
    });
    let key = new_key();
    let topic = format!("session:{key}");
    let mut tab = Client::connect_url(&srv.url("/socket/websocket?vsn=2.0.0&tab_id=t"), "t").await;
    let (mut m, _) = tab.join_mirror(&key, None).await;

    let post = |body: Value| {
        let url = srv.url(&format!("/webhooks/payment/{key}"));
        async move {
            awc::Client::default()
                .post(url)
                .send_json(&body)
                .await
                .unwrap()
        }
    };
    let hook = json!({"delivery": "d1", "order": "o1", "amount_cents": 500});
    let mut r = post(hook.clone()).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "seq": 1}));
    tab.catch_up(&key, &mut m, 1).await;
    assert_eq!(
        m.state["paid"],
        json!([{"order": "o1", "amount_cents": 500}])
    );
    let toast = tab.wait_event(&topic, "effect").await;
    assert_eq!(toast.payload["data"]["text"], "order o1 paid");

    let mut again = post(hook).await;
    assert_eq!(again.status(), 200, "a redelivery gets the first answer");
    assert_eq!(again.json::<Value>().await.unwrap(), body);

    let mut other = post(json!({"delivery": "d2", "order": "o1", "amount_cents": 500})).await;
    assert_eq!(other.status(), 422);
    let refused: Value = other.json().await.unwrap();
    assert_eq!(refused["reason"], "already_paid");
    assert_eq!(refused["data"], json!({"order": "o1"}));
    let deltas = tab
        .drain_buffer()
        .into_iter()
        .filter(|msg| msg.event == "delta")
        .count();
    assert_eq!(
        deltas, 0,
        "neither the redelivery nor the refusal made a delta"
    );
}
