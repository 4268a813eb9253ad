//! A backend for the app proxy that answers what a test asks of it,
//! including what no well-behaved backend sends (malformed answers, error
//! statuses, huge or slow answers): the faults tabhub must turn into clear
//! event errors. It records every call, so tests can check what tabhub
//! sent. Real HTTP on a real port (`actix_test::start`).
//!
//! Which answer an event gets is chosen by the event's name (see
//! [`answer_event`]); the payload's `answer`, if any, is sent back as is.
//! A `nested` event calls tabhub's server API, as a backend that invites
//! or notifies another session does, before it answers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App as WebApp, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// One call tabhub made.
#[derive(Debug, Clone)]
pub struct Call {
    /// `event`, `join`, `initial_state`, `cancel` or `presence`.
    pub path: String,
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// What the backend answers to `URL/initial_state` and `URL/join`.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// The status of `URL/initial_state` (404: not implemented); 200
    /// answers `{"state": {"fresh": true}}`.
    pub initial_status: u16,
    /// Joins are refused when their params carry `"deny": true`.
    pub refuse_denied_joins: bool,
    /// The status of `URL/join`; 200 answers as above, any other status
    /// answers with that status and no decision.
    pub join_status: u16,
    /// When set, every join is answered with this body (`200`), as is.
    pub join_answer: Option<Value>,
    /// When set, `URL/initial_state` is answered with this body (`200`),
    /// as is, whatever `initial_status` says.
    pub initial_answer: Option<Value>,
    /// Whether `URL/presence` is served: it sets `/here` to the joined
    /// tabs' ids and sends every tab an effect `presence` naming the
    /// change and its tab. Otherwise it is a 404.
    pub presence: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            initial_status: 404,
            refuse_denied_joins: true,
            join_status: 200,
            join_answer: None,
            initial_answer: None,
            presence: false,
        }
    }
}

/// The running fault backend.
pub struct FaultBackend {
    pub srv: actix_test::TestServer,
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    /// `slow` events in flight now, and the most ever at once.
    pub in_flight: Arc<(AtomicUsize, AtomicUsize)>,
}

impl FaultBackend {
    pub fn start() -> FaultBackend {
        Self::start_with(actix_test::config())
    }

    /// The backend over HTTPS with a new self-signed certificate for
    /// `127.0.0.1`; also returns that certificate as PEM (what an operator
    /// would give `--app-ca-file`).
    pub fn start_tls() -> (FaultBackend, String) {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        // The provider tabhub's client uses (`src/proxy/tls.rs`).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key.into())
            .unwrap();
        let backend = Self::start_with(actix_test::config().rustls_0_23(tls));
        (backend, certified.cert.pem())
    }

    fn start_with(config: actix_test::TestServerConfig) -> FaultBackend {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let in_flight = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let (c, b, f) = (calls.clone(), behaviour.clone(), in_flight.clone());
        let srv = actix_test::start_with(config, move || {
            let (c, b, f) = (c.clone(), b.clone(), f.clone());
            WebApp::new().route(
                "/backend/{call}",
                web::post().to(move |req: HttpRequest, body: web::Json<Value>| {
                    let (c, b, f) = (c.clone(), b.clone(), f.clone());
                    async move { answer(req, body.into_inner(), &c, &b, &f).await }
                }),
            )
        });
        FaultBackend {
            srv,
            calls,
            behaviour,
            in_flight,
        }
    }

    /// The base URL to give `ProxyConfig::new`.
    pub fn url(&self) -> String {
        self.srv.url("/backend")
    }

    /// The calls made to `path` so far.
    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }
}

async fn answer(
    req: HttpRequest,
    body: Value,
    calls: &Mutex<Vec<Call>>,
    behaviour: &Mutex<Behaviour>,
    in_flight: &(AtomicUsize, AtomicUsize),
) -> HttpResponse {
    let path = req.match_info().get("call").unwrap_or("").to_owned();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    calls.lock().unwrap().push(Call {
        path: path.clone(),
        body: body.clone(),
        authorization,
    });
    let behaviour = behaviour.lock().unwrap().clone();
    match path.as_str() {
        "event" => answer_event(&body, in_flight).await,
        "join" if behaviour.join_status != 200 => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(behaviour.join_status).unwrap(),
        )
        .body("restarting"),
        "join" if behaviour.join_answer.is_some() => {
            HttpResponse::Ok().json(behaviour.join_answer.unwrap_or_default())
        }
        "initial_state" if behaviour.initial_answer.is_some() => {
            HttpResponse::Ok().json(behaviour.initial_answer.unwrap_or_default())
        }
        "join" => {
            // `"slow_ms": N` in the join's params: a slow answer.
            if let Some(ms) = body["params"]["slow_ms"].as_u64() {
                actix_rt::time::sleep(Duration::from_millis(ms)).await;
            }
            let denied = body["params"]["deny"] == json!(true);
            if behaviour.refuse_denied_joins && denied {
                HttpResponse::Ok().json(json!({"allow": false, "message": "denied by the test"}))
            } else {
                HttpResponse::Ok().json(json!({"allow": true}))
            }
        }
        "initial_state" => match behaviour.initial_status {
            200 => HttpResponse::Ok().json(json!({"state": {"fresh": true}})),
            status => HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                .body("no initial state"),
        },
        "cancel" => HttpResponse::Ok().json(json!({
            "patch": [{"op": "add", "path": "/cancelled", "value": body["task"]}]
        })),
        "presence" if behaviour.presence => {
            let here: Vec<Value> = body["tabs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["tab_id"].clone())
                .collect();
            HttpResponse::Ok().json(json!({
                "patch": [{"op": "add", "path": "/here", "value": here}],
                "effects": [{"kind": "presence", "to": "all",
                             "data": {"change": body["change"], "tab": body["tab"]["tab_id"]}}],
            }))
        }
        _ => HttpResponse::NotFound().finish(),
    }
}

/// Answers by event name: `answer` sends the payload's `answer` member
/// back as the answer; `not_json`, `status_500`, `huge` (9 MB) and
/// `slow` (the payload's `ms`, then `{}`) are faults; `nested` first
/// submits an `echo` event into session `into` through the server API at
/// `api` (with `token`), and replies with the API's answer.
async fn answer_event(body: &Value, in_flight: &(AtomicUsize, AtomicUsize)) -> HttpResponse {
    let payload = &body["event"]["payload"];
    match body["event"]["name"].as_str().unwrap_or("") {
        "answer" => HttpResponse::Ok().json(payload["answer"].clone()),
        "nested" => {
            let api = payload["api"].as_str().unwrap_or("");
            let into = payload["into"].as_str().unwrap_or("");
            let token = payload["token"].as_str().unwrap_or("");
            let inner = json!({"id": body["event"]["id"], "name": "echo", "payload": {}});
            let url = format!("{api}/sessions/{into}/events");
            let (status, answer) = api_post(&url, token, inner).await;
            HttpResponse::Ok().json(json!({"reply": {"status": status, "answer": answer}}))
        }
        "not_json" => HttpResponse::Ok()
            .content_type("application/json")
            .body("{\"patch\": [oops"),
        "status_500" => HttpResponse::InternalServerError().body("database is down"),
        // Built as text, not serialized: a 9 MB string through serde in a
        // debug build on a busy machine can outlast a test's deadline.
        "huge" => HttpResponse::Ok()
            .content_type("application/json")
            .body(format!(
                "{{\"reply\": \"{}\"}}",
                "x".repeat(9 * 1024 * 1024)
            )),
        "slow" => {
            let ms = payload["ms"].as_u64().unwrap_or(1000);
            let now = in_flight.0.fetch_add(1, Ordering::SeqCst) + 1;
            in_flight.1.fetch_max(now, Ordering::SeqCst);
            actix_rt::time::sleep(Duration::from_millis(ms)).await;
            in_flight.0.fetch_sub(1, Ordering::SeqCst);
            HttpResponse::Ok().json(json!({}))
        }
        "echo" => HttpResponse::Ok().json(json!({"reply": body})),
        _ => HttpResponse::Ok().json(json!({
            "error": {"reason": "unknown_event", "message": "no such event"}
        })),
    }
}

/// The app proxy in front of `backend`, with its config adjusted, on a
/// real server with a memory store.
pub fn start_proxy(
    backend: &FaultBackend,
    adjust: impl FnOnce(&mut tabhub::proxy::ProxyConfig),
) -> super::Server<tabhub::proxy::Proxy> {
    let mut proxy = tabhub::proxy::ProxyConfig::new(backend.url());
    adjust(&mut proxy);
    super::start_server(
        tabhub::proxy::Proxy::new(proxy),
        tabhub::Config::default(),
        Arc::new(tabhub::MemoryStore::new()),
    )
}

/// The token of the server API that [`start_proxy_with_api`] mounts.
pub const API_TOKEN: &str = "a-test-token-of-the-proxys-api";

/// The app proxy in front of `backend`, with its config adjusted, on a
/// real server with `store`, and the server API at `/api` behind
/// [`API_TOKEN`].
pub fn start_proxy_with_api(
    backend: &FaultBackend,
    adjust: impl FnOnce(&mut tabhub::proxy::ProxyConfig),
    store: Arc<dyn tabhub::Store>,
) -> super::Server<tabhub::proxy::Proxy> {
    let mut proxy = tabhub::proxy::ProxyConfig::new(backend.url());
    adjust(&mut proxy);
    let hub = tabhub::Hub::start(
        tabhub::proxy::Proxy::new(proxy),
        tabhub::Config::default(),
        store,
    );
    let routes = hub.configure();
    let api = hub.api(API_TOKEN).configure();
    let srv = actix_test::start(move || {
        WebApp::new()
            .configure(routes.clone())
            .configure(api.clone())
    });
    super::Server { srv, hub }
}

/// `POST url` with bearer `token` and the JSON `body` (`null`: none): the
/// status and the answer's JSON (`null` when it is empty or not JSON;
/// status 0 when no answer came).
pub async fn api_post(url: &str, token: &str, body: Value) -> (u16, Value) {
    let request = awc::Client::default()
        .post(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(30));
    let sent = if body.is_null() {
        request.send().await
    } else {
        request.send_json(&body).await
    };
    let Ok(mut response) = sent else {
        return (0, Value::Null);
    };
    let bytes = response.body().limit(1 << 22).await.unwrap_or_default();
    let answer = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (response.status().as_u16(), answer)
}

/// An event payload that makes the backend answer `answer`.
pub fn answering(answer: Value) -> Value {
    json!({ "answer": answer })
}

/// The state of session `key` of a proxy server, as server code reads it.
pub async fn proxy_state(server: &super::Server<tabhub::proxy::Proxy>, key: &str) -> Value {
    let key = tabhub::SessionKey::parse(key).unwrap();
    server.hub.session(&key).state().await.unwrap().state.0
}
