//! `--otlp-endpoint` on the real binary: its spans reach an OpenTelemetry
//! collector over OTLP/HTTP (here one in the test, decoding the protobuf
//! with `opentelemetry-proto`), and every backend call carries the W3C
//! `traceparent` of its span, so the backend's work joins tabhub's trace.
#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App as WebApp, HttpRequest, HttpResponse};
use common::process::start_tabhub_with_env;
use common::{new_key, Client};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::json;

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    span_id: String,
    /// Its string and integer attributes, as text.
    attributes: Vec<(String, String)>,
    /// The trace ids of its links.
    links: Vec<String>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP collector: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`; keeps every span.
fn start_collector() -> (actix_test::TestServer, Arc<Mutex<Vec<Received>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let kept = spans.clone();
    let srv = actix_test::start(move || {
        let kept = kept.clone();
        WebApp::new().route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let kept = kept.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body).unwrap();
                    let spans = request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .flat_map(|s| &s.spans);
                    for span in spans {
                        let attributes = span
                            .attributes
                            .iter()
                            .filter_map(|kv| {
                                let value = match kv.value.as_ref()?.value.as_ref()? {
                                    AnyValue::StringValue(s) => s.clone(),
                                    AnyValue::IntValue(n) => n.to_string(),
                                    _ => return None,
                                };
                                Some((kv.key.clone(), value))
                            })
                            .collect();
                        kept.lock().unwrap().push(Received {
                            name: span.name.clone(),
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            attributes,
                            links: span.links.iter().map(|l| hex(&l.trace_id)).collect(),
                        });
                    }
                    HttpResponse::Ok()
                        .content_type("application/x-protobuf")
                        .body(ExportTraceServiceResponse::default().encode_to_vec())
                }
            }),
        )
    });
    (srv, spans)
}

/// The backend's calls: each one's name (`join`, `event`, ...) and its
/// `traceparent` header (empty when absent).
type Calls = Arc<Mutex<Vec<(String, String)>>>;

/// A backend for the app proxy that lets every join in, has no initial
/// state, answers every event with a reply, and keeps each call's name
/// and `traceparent` header.
fn start_backend() -> (actix_test::TestServer, Calls) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let kept = calls.clone();
    let srv = actix_test::start(move || {
        let kept = kept.clone();
        WebApp::new().route(
            "/backend/{call}",
            web::post().to(move |req: HttpRequest| {
                let kept = kept.clone();
                async move {
                    let call = req.match_info().get("call").unwrap_or("").to_owned();
                    let traceparent = req
                        .headers()
                        .get("traceparent")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    kept.lock().unwrap().push((call.clone(), traceparent));
                    match call.as_str() {
                        "join" => HttpResponse::Ok().json(json!({"allow": true})),
                        "event" => HttpResponse::Ok().json(json!({"reply": {"ok": true}})),
                        _ => HttpResponse::NotFound().finish(),
                    }
                }
            }),
        )
    });
    (srv, calls)
}

/// The trace id and span id of a W3C `traceparent` (version 00, sampled
/// or not), or a panic naming what is wrong with it.
fn parse_traceparent(header: &str) -> (String, String) {
    let parts: Vec<&str> = header.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent has 4 parts: {header:?}");
    let is_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    assert_eq!(parts[0], "00", "version 00: {header:?}");
    assert!(is_hex(parts[1], 32), "a 32-hex trace id: {header:?}");
    assert!(is_hex(parts[2], 16), "a 16-hex span id: {header:?}");
    assert!(is_hex(parts[3], 2), "2-hex flags: {header:?}");
    assert_ne!(parts[1], "0".repeat(32), "a trace id not all zeros");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[actix_rt::test]
async fn joins_events_commits_and_backend_calls_are_exported_as_one_trace_with_the_backend() {
    let (collector, spans) = start_collector();
    let (backend, calls) = start_backend();
    let endpoint = collector.url("");
    let app_url = backend.url("/backend");
    let (mut server, addr) = start_tabhub_with_env(
        &["--app-url", &app_url, "--otlp-endpoint", &endpoint],
        // Batches go out every 100 ms rather than 5 s.
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0&tab_id=a");
    let mut tab = Client::connect_url(&url, "a").await;
    let key = new_key();
    tab.join(&key, None).await;
    let r = tab.event(&key, "add", json!({"text": "milk"})).await;
    assert_eq!(r["status"], "ok", "{r}");

    // SIGTERM: tabhub exports what is left before it exits.
    server.terminate();
    let status = server.wait_for(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{}", server.output());

    let calls = calls.lock().unwrap().clone();
    let traceparent_of = |name: &str| {
        let (_, header) = calls
            .iter()
            .find(|(call, _)| call == name)
            .unwrap_or_else(|| panic!("no {name} call: {calls:?}"));
        parse_traceparent(header)
    };
    let (event_trace, event_parent) = traceparent_of("event");
    let (join_trace, join_parent) = traceparent_of("join");
    assert_ne!(
        event_trace, join_trace,
        "a join and an event are two traces"
    );

    let spans = spans.lock().unwrap().clone();
    let named =
        |name: &str| -> Vec<&Received> { spans.iter().filter(|s| s.name == name).collect() };
    let short_key = tabhub::SessionKey::parse(&key).unwrap().to_string();

    // The backend's event call: its span is the traceparent's.
    let backend_calls = named("backend_call");
    let event_call = backend_calls
        .iter()
        .find(|s| s.attribute("call") == Some("event"))
        .unwrap_or_else(|| panic!("a backend_call span for the event: {spans:#?}"));
    assert_eq!(event_call.trace_id, event_trace);
    assert_eq!(event_call.span_id, event_parent);
    assert_eq!(event_call.attribute("status"), Some("200"));
    let join_call = backend_calls
        .iter()
        .find(|s| s.attribute("call") == Some("join"))
        .unwrap_or_else(|| panic!("a backend_call span for the join: {spans:#?}"));
    assert_eq!(
        (&join_call.trace_id, &join_call.span_id),
        (&join_trace, &join_parent)
    );

    // The event's span heads the backend call's trace, named by its id,
    // name and short key, linked to its session's span (another trace).
    let event = named("event")
        .into_iter()
        .find(|s| s.trace_id == event_trace)
        .unwrap_or_else(|| panic!("an event span in the backend's trace: {spans:#?}"));
    assert_eq!(event.attribute("event"), Some("add"));
    assert_eq!(event.attribute("key"), Some(short_key.as_str()));
    assert!(event.attribute("id").is_some(), "{event:?}");
    assert_eq!(event.links.len(), 1, "{event:?}");
    assert_ne!(event.links[0], event_trace, "{event:?}");

    // The join's span heads the backend's join call's trace.
    let join = named("join")
        .into_iter()
        .find(|s| s.trace_id == join_trace)
        .unwrap_or_else(|| panic!("a join span in the backend's trace: {spans:#?}"));
    assert_eq!(join.attribute("key"), Some(short_key.as_str()));
    assert_eq!(join.attribute("tab"), Some("a"));

    // The event's step went to disk (redb) in a group commit.
    assert!(
        named("commit")
            .iter()
            .any(|c| c.attribute("steps").is_some_and(|n| n != "0")),
        "a commit span: {spans:#?}"
    );
    // A key is a secret: no span carries it whole.
    let everything = format!("{spans:?}");
    assert!(!everything.contains(&key), "no whole key: {everything}");
}
