//! The server API's test client (for `tests/server_api.rs`): the demo served
//! behind a token, and one HTTP call to it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::App as WebApp;
use serde_json::Value;
use tabhub::demo::Demo;
use tabhub::{Api, Config, Hub, MemoryStore, Store};

use crate::common::Server;

/// The token the test server's API wants.
pub const TOKEN: &str = "a-test-token-of-the-server-api";

/// The demo with its routes and the server API at `/api`.
pub fn start_with_api(config: Config) -> Server<Demo> {
    start_with_adjusted_api(config, |api| api)
}

/// The demo with its routes and the server API as `adjust` leaves it.
pub fn start_with_adjusted_api(
    config: Config,
    adjust: impl FnOnce(Api<Demo>) -> Api<Demo>,
) -> Server<Demo> {
    start_with_api_on(config, Arc::new(MemoryStore::new()), adjust)
}

/// As [`start_with_adjusted_api`], keeping sessions in `store`.
pub fn start_with_api_on(
    config: Config,
    store: Arc<dyn Store>,
    adjust: impl FnOnce(Api<Demo>) -> Api<Demo>,
) -> Server<Demo> {
    let hub = Hub::start(Demo::default(), config, store);
    let routes = hub.configure();
    let api = adjust(hub.api(TOKEN)).configure();
    let srv = actix_test::start(move || {
        WebApp::new()
            .configure(routes.clone())
            .configure(api.clone())
    });
    Server { srv, hub }
}

/// An answer: its status and its body as JSON (`null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// Asserts the refusal `status` with `reason`, and a message.
    pub fn assert_refused(&self, status: u16, reason: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["reason"], reason, "{self:?}");
        assert!(self.body["message"].is_string(), "{self:?}");
    }
}

/// One call with the right token and `body` (`None`: no body).
pub async fn call(
    server: &Server<Demo>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let auth = format!("Bearer {TOKEN}");
    call_raw(server, method, path, Some(&auth), bytes).await
}

/// `POST path` with the right token and the JSON `body`.
pub async fn post(server: &Server<Demo>, path: &str, body: Value) -> Answer {
    call(server, Method::POST, path, Some(body)).await
}

/// `GET path` with the right token.
pub async fn get(server: &Server<Demo>, path: &str) -> Answer {
    call(server, Method::GET, path, None).await
}

/// One call with the `Authorization` header `auth` (or none) and the raw
/// body `bytes`.
pub async fn call_raw(
    server: &Server<Demo>,
    method: Method,
    path: &str,
    auth: Option<&str>,
    bytes: Vec<u8>,
) -> Answer {
    let mut request = awc::Client::default().request(method, server.srv.url(path));
    if let Some(auth) = auth {
        request = request.insert_header(("authorization", auth));
    }
    let mut response = request
        .content_type("application/json")
        .send_body(bytes)
        .await
        .unwrap();
    let body = response.body().limit(1 << 22).await.unwrap();
    Answer {
        status: response.status().as_u16(),
        body: if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
        },
    }
}

/// The path of session `key`'s route `rest` (`""` for the session itself).
pub fn session(key: &str, rest: &str) -> String {
    format!("/api/sessions/{key}{rest}")
}
