//! Benchmarks of tabhub's hot path.
//!
//! - `fanout/N`: one event end to end over real WebSockets. A real server
//!   runs the demo app (rate limiting off); N tabs, each on its own
//!   connection, are joined to one session holding one todo. Each iteration
//!   tab 0 pushes `toggle_todo` (the state's size stays constant) and the
//!   iteration ends when tab 0 has the event's `phx_reply` and every one of
//!   the N tabs has the `delta` with the expected seq.
//!
//! The delta's cost, diffed or stated, is `benches/delta.rs`.
//!
//! Run with `cargo bench --bench hot_path`.
//!
//! The server is `actix_web::HttpServer` with `tcp_nodelay(true)` and one
//! worker, as `src/bin/tabhub.rs` serves (`actix_test::start` also has one
//! worker). `actix_test::start` leaves Nagle's algorithm on: a tab's next
//! small frame then waits for the client's delayed ACK (about 40 ms on
//! Linux), which swamps everything measured here. To see that, run
//! `BENCH_SERVER=actix_test cargo bench --bench hot_path -- fanout`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

#[path = "../tests/common/nodelay.rs"]
#[allow(dead_code, unreachable_pub)]
mod nodelay;
use nodelay::NoDelayServer;
use std::time::{Duration, Instant};

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::{Config, Hub, MemoryStore};

/// Longest wait for any one frame before the bench gives up.
const WAIT: Duration = Duration::from_secs(10);

/// One received Phoenix message (only what the bench looks at).
struct Msg {
    reference: Option<String>,
    event: String,
    payload: Value,
}

/// A minimal Phoenix V2 client over a real WebSocket.
struct Tab {
    framed: Framed<BoxedSocket, Codec>,
    join_ref: Option<String>,
    next_ref: u64,
}

impl Tab {
    async fn connect(srv: &Server, tab_id: &str) -> Tab {
        let url = srv.url(&format!("/socket/websocket?vsn=2.0.0&tab_id={tab_id}"));
        let (_resp, framed) = awc::Client::default()
            .ws(url)
            .max_frame_size(64 * 1024 * 1024)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("websocket connect failed: {e}"));
        Tab {
            framed,
            join_ref: None,
            next_ref: 1,
        }
    }

    fn new_ref(&mut self) -> String {
        let r = self.next_ref.to_string();
        self.next_ref += 1;
        r
    }

    /// Sends `[join_ref, ref, topic, event, payload]`; returns the ref.
    async fn push(&mut self, topic: &str, event: &str, payload: Value) -> String {
        let r = self.new_ref();
        let frame = json!([self.join_ref, r, topic, event, payload]);
        self.framed
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
        r
    }

    /// The next Phoenix message; answers pings on the way.
    async fn next_msg(&mut self) -> Msg {
        loop {
            let frame = tokio::time::timeout(WAIT, self.framed.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection ended while waiting for a message")
                .unwrap_or_else(|e| panic!("websocket error: {e}"));
            match frame {
                Frame::Text(bytes) => {
                    let frame: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
                    let [_join_ref, reference, _topic, event, payload] =
                        <[Value; 5]>::try_from(frame).unwrap();
                    return Msg {
                        reference: reference.as_str().map(str::to_owned),
                        event: event.as_str().unwrap().to_owned(),
                        payload,
                    };
                }
                Frame::Ping(p) => self.framed.send(Message::Pong(p)).await.unwrap(),
                Frame::Close(reason) => panic!("closed by the server: {reason:?}"),
                _ => {}
            }
        }
    }

    /// Waits for the reply to push `reference`, skipping anything else;
    /// returns its payload `{status, response}`.
    async fn reply(&mut self, reference: &str) -> Value {
        loop {
            let m = self.next_msg().await;
            if m.event == "phx_reply" && m.reference.as_deref() == Some(reference) {
                return m.payload;
            }
        }
    }

    /// Joins `topic` with no cursor; returns the ok reply's response.
    async fn join(&mut self, topic: &str) -> Value {
        let r = self.new_ref();
        self.join_ref = Some(r.clone());
        let frame = json!([r, r, topic, "phx_join", {"cursor": null}]);
        self.framed
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
        let reply = self.reply(&r).await;
        assert_eq!(reply["status"], "ok", "join refused: {reply}");
        reply["response"].clone()
    }

    /// Waits until both the delta with `seq` and (if `reference` is given)
    /// the reply to that push have arrived; returns the delta's payload.
    /// Other messages (`tabs`, `leader`) are skipped.
    async fn await_delta(&mut self, seq: u64, mut reference: Option<&str>) -> Value {
        let mut delta = None;
        while delta.is_none() || reference.is_some() {
            let m = self.next_msg().await;
            match m.event.as_str() {
                "delta" => {
                    let got = m.payload["seq"].as_u64().unwrap();
                    assert_eq!(got, seq, "deltas arrive in order, without gaps");
                    delta = Some(m.payload);
                }
                "phx_reply" if m.reference.as_deref() == reference => {
                    assert_eq!(m.payload["status"], "ok", "event failed: {}", m.payload);
                    assert_eq!(m.payload["response"]["seq"], seq);
                    assert!(delta.is_some(), "the delta comes before the reply");
                    reference = None;
                }
                _ => {}
            }
        }
        delta.unwrap()
    }
}

/// The HTTP server in front of the hub.
enum Server {
    /// `actix_test::start`: Nagle's algorithm stays on.
    Test(actix_test::TestServer),
    /// `HttpServer` with `tcp_nodelay(true)`, as `src/bin/tabhub.rs` runs it.
    NoDelay(NoDelayServer),
}

impl Server {
    fn start<F>(routes: F) -> Server
    where
        F: FnOnce(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
    {
        if std::env::var("BENCH_SERVER").as_deref() == Ok("actix_test") {
            return Server::Test(actix_test::start(move || {
                actix_web::App::new().configure(routes.clone())
            }));
        }
        Server::NoDelay(NoDelayServer::start(routes))
    }

    fn url(&self, path: &str) -> String {
        match self {
            Server::Test(srv) => srv.url(path),
            Server::NoDelay(srv) => srv.url(path),
        }
    }

    async fn stop(self) {
        match self {
            Server::Test(srv) => srv.stop().await,
            Server::NoDelay(srv) => srv.stop().await,
        }
    }
}

/// A running server with N tabs joined to one session holding one todo.
struct Fanout {
    srv: Server,
    hub: Hub<Demo>,
    tabs: Vec<Tab>,
    topic: String,
    todo_id: String,
    seq: u64,
    next_event: u64,
}

impl Fanout {
    async fn start(n: usize) -> Fanout {
        let mut config = Config::default();
        config.rate_events_per_sec = 0;
        config.max_tabs_per_session = n.max(Config::default().max_tabs_per_session);
        let hub = Hub::start(Demo::default(), config, Arc::new(MemoryStore::new()));
        let routes = hub.configure();
        let srv = Server::start(routes);
        let topic = format!("session:{}", uuid::Uuid::new_v4().simple());

        let mut tabs = Vec::with_capacity(n);
        for i in 0..n {
            tabs.push(Tab::connect(&srv, &format!("t{i}")).await);
        }
        let mut state = Value::Null;
        let mut seq = 0;
        for (i, tab) in tabs.iter_mut().enumerate() {
            let response = tab.join(&topic).await;
            if i == 0 {
                assert_eq!(response["resume"], "snapshot");
                state = response["state"].clone();
                seq = response["seq"].as_u64().unwrap();
            }
        }
        assert_eq!(tabs.len(), n);

        // One todo, read back from tab 0's copy of the state. Waiting for
        // its delta on every tab also drains the `tabs` and `leader`
        // messages the joins produced.
        seq += 1;
        let r = tabs[0]
            .push(
                &topic,
                "event",
                json!({"id": "setup", "name": "add_todo", "payload": {"text": "bench"}}),
            )
            .await;
        let delta = tabs[0].await_delta(seq, Some(&r)).await;
        for tab in &mut tabs[1..] {
            tab.await_delta(seq, None).await;
        }
        let patch: json_patch::Patch = serde_json::from_value(delta["patch"].clone()).unwrap();
        json_patch::patch(&mut state, &patch).unwrap();
        let todo_id = state["todos"][0]["id"].as_str().unwrap().to_owned();

        Fanout {
            srv,
            hub,
            tabs,
            topic,
            todo_id,
            seq,
            next_event: 0,
        }
    }

    /// One event from tab 0, to its reply and every tab's delta.
    async fn toggle(&mut self) {
        self.next_event += 1;
        self.seq += 1;
        let event = json!({
            "id": format!("e{}", self.next_event),
            "name": "toggle_todo",
            "payload": {"id": self.todo_id},
        });
        let r = self.tabs[0].push(&self.topic, "event", event).await;
        let seq = self.seq;
        self.tabs[0].await_delta(seq, Some(&r)).await;
        for tab in &mut self.tabs[1..] {
            tab.await_delta(seq, None).await;
        }
    }

    async fn run(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.toggle().await;
        }
        start.elapsed()
    }

    async fn stop(self) {
        self.hub.shutdown().await;
        drop(self.tabs);
        self.srv.stop().await;
    }
}

fn fanout(c: &mut Criterion) {
    let system = actix_rt::System::new();
    let mut group = c.benchmark_group("fanout");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    for n in [1_usize, 10, 100] {
        group.throughput(Throughput::Elements(n as u64));
        // Started on first use, so a filtered-out N starts no server.
        let mut fixture: Option<Fanout> = None;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            if fixture.is_none() {
                fixture = Some(system.block_on(Fanout::start(n)));
            }
            let f = fixture.as_mut().unwrap();
            b.iter_custom(|iters| system.block_on(f.run(iters)));
        });
        if let Some(f) = fixture {
            system.block_on(f.stop());
        }
    }
    group.finish();
}

/// The group (what `criterion_group!` would generate, minus its
/// undocumented `pub fn`).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    fanout(&mut c);
}

criterion_main!(benches);
