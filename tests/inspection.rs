//! Inspection (`docs/app-proxy.md`, "Listing sessions" and "The admin
//! page"). `GET /api/sessions`: behind the API token, a page of sessions. By default the
//! store's sessions, most recently active first, each marked live when
//! this node runs it (with its tabs, seq and epoch); with `live=true` this
//! node's live sessions, saved or not. Keys appear only in their short
//! form, pages follow each other through `next_cursor`, and a bad query
//! is a `400 invalid_query`. The admin page (`/admin`) is served beside
//! the API, names the API's prefix, holds no data and is never cached or
//! framed; it can move or be left out. (Its behaviour in Chromium is
//! `tests/browser/admin.test.mjs`.)
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::collections::BTreeSet;

use actix_web::http::Method;
use api_client::{get, post, session, start_with_adjusted_api, start_with_api};
use common::{new_key, Client, Server};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::Config;

/// The short form a listing shows of `key`.
fn short(key: &str) -> String {
    format!("{}…", &key[..6])
}

/// Adds a todo to `key` through the events route.
async fn add_todo(server: &Server<Demo>, key: &str, id: &str) {
    let event = json!({"id": id, "name": "add_todo", "payload": {"text": id}});
    let answer = post(server, &session(key, "/events"), event).await;
    assert_eq!(answer.body["status"], "ok", "{answer:?}");
}

/// Stops `key`'s session, which saves it.
async fn stop(server: &Server<Demo>, key: &str) {
    let answer = post(server, &session(key, "/stop"), json!({})).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// The rows of a page, and its cursor.
async fn page(server: &Server<Demo>, query: &str) -> (Vec<Value>, Option<String>) {
    let answer = get(server, &format!("/api/sessions{query}")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let rows = answer.body["sessions"].as_array().unwrap().clone();
    let cursor = answer.body["next_cursor"].as_str().map(str::to_owned);
    (rows, cursor)
}

#[actix_rt::test]
async fn the_stored_listing_is_newest_first_with_short_keys_and_live_ones_marked() {
    let server = start_with_api(Config::default());
    let (older, newer) = (new_key(), new_key());
    add_todo(&server, &older, "o1").await;
    stop(&server, &older).await;
    // Stamps are in ms: the second save must come at a later one.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    add_todo(&server, &newer, "n1").await;
    add_todo(&server, &newer, "n2").await;
    stop(&server, &newer).await;
    let mut tab = Client::connect(&server, "t").await;
    tab.join_mirror(&newer, None).await;

    let answer = get(&server, "/api/sessions").await;
    let text = answer.body.to_string();
    assert!(!text.contains(&older) && !text.contains(&newer), "{text}");
    let rows = answer.body["sessions"].as_array().unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, [short(&newer), short(&older)], "{text}");
    let (live, stored) = (&rows[0], &rows[1]);
    assert_eq!(live["live"], true, "{live}");
    assert_eq!(
        (live["tabs"].clone(), live["visible_tabs"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(live["seq"], 2, "{live}");
    assert!(live["epoch"].is_string(), "{live}");
    assert_eq!(stored["live"], false, "{stored}");
    assert_eq!(stored["tabs"], 0, "{stored}");
    assert!(
        stored["seq"].is_null() && stored["epoch"].is_null(),
        "{stored}"
    );
    let (at_new, at_old) = (
        live["last_active_ms"].as_u64(),
        stored["last_active_ms"].as_u64(),
    );
    assert!(at_new > at_old && at_old.is_some(), "{text}");
    assert_eq!(answer.body["next_cursor"], Value::Null, "{text}");
}

#[actix_rt::test]
async fn stored_pages_follow_each_other_through_the_cursor() {
    let server = start_with_api(Config::default());
    let mut saved = BTreeSet::new();
    for n in 0..3 {
        let key = new_key();
        add_todo(&server, &key, &format!("t{n}")).await;
        stop(&server, &key).await;
        saved.insert(short(&key));
    }
    let (first, cursor) = page(&server, "?limit=2").await;
    assert_eq!(first.len(), 2);
    let cursor = cursor.expect("a full page has a next_cursor");
    let (second, last) = page(&server, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(second.len(), 1);
    assert_eq!(last, None, "the last page has no next_cursor");
    let listed: BTreeSet<String> = first
        .iter()
        .chain(&second)
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, saved);
}

#[actix_rt::test]
async fn the_live_listing_pages_through_this_nodes_sessions_saved_or_not() {
    let server = start_with_api(Config::default());
    let mut tabs = Vec::new();
    let mut live = BTreeSet::new();
    for n in 0..3 {
        let key = new_key();
        let mut tab = Client::connect(&server, &format!("t{n}")).await;
        tab.join_mirror(&key, None).await;
        if n == 0 {
            tab.event(&key, "add_todo", json!({"text": "x"})).await;
        }
        tabs.push(tab);
        live.insert(short(&key));
    }
    // Nothing is saved yet: the stored listing is empty.
    assert_eq!(page(&server, "").await.0, Vec::<Value>::new());

    let (first, cursor) = page(&server, "?live=true&limit=2").await;
    assert_eq!(first.len(), 2);
    let cursor = cursor.expect("a full page has a next_cursor");
    let (second, last) = page(&server, &format!("?live=true&limit=2&cursor={cursor}")).await;
    assert_eq!(second.len(), 1);
    assert_eq!(last, None);
    let rows: Vec<&Value> = first.iter().chain(&second).collect();
    let listed: BTreeSet<String> = rows
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, live);
    assert!(
        rows.iter().all(|r| r["live"] == true && r["tabs"] == 1),
        "{rows:?}"
    );
    let mut seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [0, 0, 1]);
}

#[actix_rt::test]
async fn a_bad_query_is_refused_with_invalid_query() {
    let server = start_with_api(Config::default());
    for query in [
        "?limit=0",
        "?limit=1001",
        "?limit=many",
        "?cursor=nonsense",
        "?live=true&cursor=s100",
        "?cursor=l00ff",
        "?live=maybe",
        "?order=desc",
    ] {
        let answer = get(&server, &format!("/api/sessions{query}")).await;
        assert_eq!(answer.status, 400, "{query}: {answer:?}");
        assert_eq!(
            answer.body["reason"], "invalid_query",
            "{query}: {answer:?}"
        );
        assert!(answer.body["message"].is_string(), "{query}: {answer:?}");
    }
    let unauthorized =
        api_client::call_raw(&server, Method::GET, "/api/sessions", None, Vec::new()).await;
    assert_eq!(unauthorized.status, 401);
    let metrics = server.hub.metrics_text().await;
    assert!(
        metrics.contains(r#"tabhub_api_requests_total{route="GET /sessions",status="400"} 8"#),
        "{metrics}"
    );
}

/// `GET path` without a token: status, headers and body as text.
async fn fetch_page(
    server: &Server<Demo>,
    path: &str,
) -> (u16, awc::http::header::HeaderMap, String) {
    let mut res = server.srv.get(path).send().await.unwrap();
    let body = res.body().await.unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    (res.status().as_u16(), res.headers().clone(), text)
}

#[actix_rt::test]
async fn the_admin_page_needs_no_token_holds_no_data_and_is_never_cached_or_framed() {
    let server = start_with_api(Config::default());
    let key = new_key();
    add_todo(&server, &key, "secret-todo").await;
    let (status, headers, page) = fetch_page(&server, "/admin").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"<meta name="tabhub-api" content="/api">"#),
        "{page}"
    );
    assert!(!page.contains(&key[..6]) && !page.contains("secret-todo"));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("x-frame-options"), "DENY");
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
}

#[actix_rt::test]
async fn the_admin_page_follows_the_api_prefix_moves_or_is_left_out() {
    let moved = start_with_adjusted_api(Config::default(), |api| {
        api.prefix("/ops").admin_path("ops-admin")
    });
    let (status, _, page) = fetch_page(&moved, "/ops-admin").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"content="/ops""#), "{page}");
    assert_eq!(fetch_page(&moved, "/admin").await.0, 404);

    let without = start_with_adjusted_api(Config::default(), |api| api.without_admin());
    assert_eq!(fetch_page(&without, "/admin").await.0, 404);
}
