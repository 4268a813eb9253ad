//! The server API's refusals (`docs/app-proxy.md`, the error table): a
//! call without the bearer token is `401` before anything else is looked
//! at; a bad key, a body not of the route's shape, an over-long name or an
//! over-deep payload is `400`; a body over the limit `413`; any other path
//! or method under the prefix `404`; each with `{"reason", "message"}`.
//! Without a token the API is not mounted at all.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use actix_web::http::Method;
use api_client::{
    call, call_raw, get, post, session, start_with_adjusted_api, start_with_api, TOKEN,
};
use common::{new_key, start_demo, Server};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::Config;

fn start() -> Server<Demo> {
    start_with_api(Config::default())
}

#[actix_rt::test]
async fn a_call_without_the_token_or_with_the_wrong_one_is_unauthorized() {
    let server = start();
    let path = session(&new_key(), "");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic dXNlcjpwdw=="),
        Some("Bearer "),
    ] {
        let answer = call_raw(&server, Method::GET, &path, auth, vec![]).await;
        answer.assert_refused(401, "unauthorized");
    }
    let right = format!("bearer {TOKEN}");
    let answer = call_raw(&server, Method::GET, &path, Some(&right), vec![]).await;
    assert_eq!(answer.status, 200, "the scheme's case does not matter");
}

#[actix_rt::test]
async fn the_token_is_checked_before_the_route_and_the_body() {
    let server = start();
    let unknown = call_raw(&server, Method::GET, "/api/nowhere", None, vec![]).await;
    unknown.assert_refused(401, "unauthorized");
    let big = vec![b' '; Config::default().max_frame_bytes + 1];
    let path = session(&new_key(), "/events");
    let too_large = call_raw(&server, Method::POST, &path, None, big).await;
    too_large.assert_refused(401, "unauthorized");
}

#[actix_rt::test]
async fn without_a_token_the_api_is_not_mounted() {
    let (server, _store) = start_demo(Config::default());
    let auth = format!("Bearer {TOKEN}");
    let path = session(&new_key(), "");
    let answer = call_raw(&server, Method::GET, &path, Some(&auth), vec![]).await;
    assert_eq!(answer.status, 404);
}

#[actix_rt::test]
async fn an_event_id_is_a_non_empty_name_within_the_limit() {
    let server = start();
    let long = "x".repeat(Config::default().max_name_bytes + 1);
    for id in [json!(""), json!(long), json!(7)] {
        let event = json!({"id": id, "name": "add_todo", "payload": {"text": "a"}});
        let answer = post(&server, &session(&new_key(), "/events"), event).await;
        answer.assert_refused(400, "invalid_body");
    }
}

#[actix_rt::test]
async fn a_change_is_a_patch_or_a_state_never_both_nor_neither() {
    let server = start();
    let path = session(&new_key(), "/state");
    for body in [
        json!({"patch": [], "state": {}}),
        json!({}),
        json!({"task": "j"}),
    ] {
        post(&server, &path, body)
            .await
            .assert_refused(400, "invalid_body");
    }
}

#[actix_rt::test]
async fn a_task_key_longer_than_the_name_limit_is_refused() {
    let server = start();
    let long = "t".repeat(Config::default().max_name_bytes + 1);
    let path = session(&new_key(), &format!("/tasks/{long}/cancel"));
    post(&server, &path, Value::Null)
        .await
        .assert_refused(400, "invalid_body");
}

#[actix_rt::test]
async fn an_invalid_key_is_refused() {
    let server = start();
    for key in ["short", "has.a.dot-but-is-long-enough-123"] {
        get(&server, &session(key, ""))
            .await
            .assert_refused(400, "invalid_key");
        let event = json!({"id": "e", "name": "add_todo"});
        let answer = post(&server, &session(key, "/events"), event).await;
        answer.assert_refused(400, "invalid_key");
    }
}

#[actix_rt::test]
async fn a_body_that_is_not_json_of_the_routes_shape_is_refused() {
    let server = start();
    let key = new_key();
    let auth = format!("Bearer {TOKEN}");
    let path = session(&key, "/events");
    let malformed = call_raw(
        &server,
        Method::POST,
        &path,
        Some(&auth),
        b"{\"id\":".to_vec(),
    )
    .await;
    malformed.assert_refused(400, "invalid_body");
    let cases = [
        ("/events", json!({"id": "e", "name": 3})),
        (
            "/events",
            json!({"id": "e", "name": "add_todo", "extra": 1}),
        ),
        ("/state", json!({"patch": {"op": "add"}})),
        ("/effects", json!({"data": {}})),
        ("/effects", json!({"kind": "toast", "tab": "not a tab id"})),
        ("/tasks/j/end", json!({"status": "finished"})),
        (
            "/tasks/j/end",
            json!({"status": "done", "patch": [], "state": {}}),
        ),
    ];
    for (route, body) in cases {
        let answer = post(&server, &session(&key, route), body.clone()).await;
        assert_eq!(answer.status, 400, "{route} {body}: {answer:?}");
        assert_eq!(answer.body["reason"], "invalid_body", "{route} {body}");
    }
}

#[actix_rt::test]
async fn a_body_over_the_limit_is_too_large() {
    let server = start();
    let text = "x".repeat(Config::default().max_frame_bytes);
    let event = json!({"id": "e", "name": "add_todo", "payload": {"text": text}});
    let answer = post(&server, &session(&new_key(), "/events"), event).await;
    answer.assert_refused(413, "too_large");
}

#[actix_rt::test]
async fn a_streamed_body_over_the_limit_is_too_large() {
    let server = start();
    let chunk = web_bytes(64 * 1024);
    let chunks = (0..8).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let mut response = awc::Client::default()
        .post(server.srv.url(&session(&new_key(), "/events")))
        .insert_header(("authorization", format!("Bearer {TOKEN}")))
        .send_stream(futures_util::stream::iter(chunks))
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "too_large");
}

#[actix_rt::test]
async fn the_body_limit_can_be_chosen() {
    let server = start_with_adjusted_api(Config::default(), |api| api.max_body_bytes(64));
    let text = "x".repeat(64);
    let event = json!({"id": "e", "name": "add_todo", "payload": {"text": text}});
    let answer = post(&server, &session(&new_key(), "/events"), event).await;
    answer.assert_refused(413, "too_large");
}

#[actix_rt::test]
async fn an_event_payload_nested_deeper_than_a_tabs_may_be_is_refused() {
    let server = start();
    let mut payload = json!({"text": "deep"});
    for _ in 0..Config::default().max_json_depth {
        payload = json!({"inner": payload});
    }
    let event = json!({"id": "e", "name": "add_todo", "payload": payload});
    let answer = post(&server, &session(&new_key(), "/events"), event).await;
    answer.assert_refused(400, "invalid_body");
}

#[actix_rt::test]
async fn the_api_can_be_mounted_under_another_prefix() {
    let server = start_with_adjusted_api(Config::default(), |api| api.prefix("/backend/v1/"));
    let auth = format!("Bearer {TOKEN}");
    let path = format!("/backend/v1/sessions/{}", new_key());
    let moved = call_raw(&server, Method::GET, &path, Some(&auth), vec![]).await;
    assert_eq!((moved.status, moved.body["seq"].clone()), (200, json!(0)));
    let old = call_raw(
        &server,
        Method::GET,
        &session(&new_key(), ""),
        Some(&auth),
        vec![],
    )
    .await;
    assert_eq!(old.status, 404);
}

#[actix_rt::test]
async fn an_unknown_route_or_method_is_not_found() {
    let server = start();
    let key = new_key();
    for (method, path) in [
        (Method::GET, "/api".to_owned()),
        (Method::GET, "/api/nowhere".to_owned()),
        (Method::POST, session(&key, "/nothing")),
        (Method::GET, session(&key, "/events")),
        (Method::PUT, session(&key, "")),
    ] {
        let answer = call(&server, method.clone(), &path, None).await;
        assert_eq!(answer.status, 404, "{method} {path}: {answer:?}");
        assert_eq!(answer.body["reason"], "not_found");
    }
}

fn web_bytes(n: usize) -> actix_web::web::Bytes {
    actix_web::web::Bytes::from(vec![b' '; n])
}

#[actix_rt::test]
async fn every_answered_call_is_counted_by_route_and_status() {
    let server = start();
    let key = new_key();
    let event = json!({"id": "e1", "name": "add_todo", "payload": {"text": "x"}});
    assert_eq!(
        post(&server, &session(&key, "/events"), event).await.status,
        200
    );
    assert_eq!(get(&server, &session(&key, "")).await.status, 200);
    call_raw(&server, Method::GET, &session(&key, ""), None, vec![])
        .await
        .assert_refused(401, "unauthorized");
    let bad = post(
        &server,
        &session(&key, "/state"),
        json!({"patch": [{"op": "remove", "path": "/x"}]}),
    )
    .await;
    bad.assert_refused(422, "invalid_change");
    let text = server.hub.metrics_text().await;
    for line in [
        r#"tabhub_api_requests_total{route="POST /events",status="200"} 1"#,
        r#"tabhub_api_requests_total{route="GET ",status="200"} 1"#,
        r#"tabhub_api_requests_total{route="POST /state",status="422"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    let unauthorized = text
        .lines()
        .find(|l| l.starts_with("tabhub_api_requests_total") && l.contains(r#"status="401""#));
    assert!(unauthorized.is_some_and(|l| l.ends_with(" 1")), "{text}");
}

/// The `route` label values of `tabhub_api_requests_total` in a scrape of
/// `GET /metrics`.
async fn api_route_labels(server: &Server<Demo>) -> std::collections::BTreeSet<String> {
    let mut got = awc::Client::default()
        .get(server.srv.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let text = String::from_utf8(got.body().limit(1 << 22).await.unwrap().to_vec()).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("tabhub_api_requests_total{route=\""))
        .filter_map(|l| l.split_once('"').map(|(route, _)| route.to_owned()))
        .collect()
}

#[actix_rt::test]
async fn random_paths_and_methods_leave_the_route_labels_a_fixed_set() {
    let server = start();
    let key = new_key();
    let auth = format!("Bearer {TOKEN}");
    for i in 0..60 {
        let word = uuid::Uuid::new_v4().simple().to_string();
        let method = Method::from_bytes(word[..8].to_uppercase().as_bytes()).unwrap();
        let paths = [
            session(&key, "/events"),
            session(&key, ""),
            session(&word, &format!("/{word}")),
            format!("/api/{word}"),
        ];
        let path = &paths[i % paths.len()];
        // Unauthenticated (401) and authenticated (404) alike.
        let token = (i % 2 == 0).then_some(auth.as_str());
        let answer = call_raw(&server, method.clone(), path, token, vec![]).await;
        assert!(
            [401, 404].contains(&answer.status),
            "{method} {path}: {answer:?}"
        );
        let answer = call_raw(&server, Method::GET, &format!("/api/{word}"), None, vec![]).await;
        assert_eq!(answer.status, 401);
    }
    let known = [
        "GET ",
        "DELETE ",
        "POST /events",
        "POST /state",
        "POST /effects",
        "POST /tasks/{task}/end",
        "POST /tasks/{task}/cancel",
        "POST /stop",
        "GET /stats",
        "GET /sessions",
        "other",
    ];
    let labels = api_route_labels(&server).await;
    assert!(!labels.is_empty());
    for label in &labels {
        assert!(known.contains(&label.as_str()), "{label:?} in {labels:?}");
    }
}

#[actix_rt::test]
async fn a_body_or_a_patch_operation_that_is_not_a_json_object_is_refused() {
    let server = start();
    let key = new_key();
    // Each would be read by position into the route's shape.
    let cases = [
        ("/events", json!(["e1", "add_todo", {"text": "x"}])),
        ("/state", json!([[{"op": "add", "path": "/x", "value": 1}]])),
        (
            "/state",
            json!({"patch": [["add", "/todos/-", {"id": "1"}]]}),
        ),
        ("/effects", json!(["toast", {}])),
        ("/tasks/j/end", json!(["done"])),
        (
            "/tasks/j/end",
            json!({"status": "done", "patch": [["replace", "/todos", []]]}),
        ),
        ("/events", json!("e1")),
        ("/state", json!(null)),
    ];
    for (route, body) in cases {
        let answer = post(&server, &session(&key, route), body.clone()).await;
        assert_eq!(answer.status, 400, "{route} {body}: {answer:?}");
        assert_eq!(answer.body["reason"], "invalid_body", "{route} {body}");
    }
    let read = get(&server, &session(&key, "")).await;
    assert_eq!((read.status, read.body["seq"].clone()), (200, json!(0)));
}
