//! Shared helpers for the integration tests: a real server on a free port
//! (`actix_test::start`) and a Phoenix V2 client over a real WebSocket (awc).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

mod eventually;
pub mod fault_backend;
pub mod node;
pub mod nodelay;
pub mod power;
pub mod process;
pub mod python;
pub mod redis;
pub mod stores;
pub mod stream;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix_codec::Framed;
use actix_web::App as WebApp;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::{App, Config, Hub, MemoryStore, Store};

// Not every test binary waits for something.
#[allow(unused_imports)]
pub use eventually::{eventually, eventually_blocking, eventually_within, until_no_session};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running test server with its hub and store.
pub struct Server<A: App> {
    pub srv: actix_test::TestServer,
    pub hub: Hub<A>,
}

/// Starts the demo app with `config` and a fresh in-memory store.
pub fn start_demo(config: Config) -> (Server<Demo>, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (start_server(Demo::default(), config, store.clone()), store)
}

/// Starts `app` on a real server with `config` and `store`.
pub fn start_server<A: App>(app: A, config: Config, store: Arc<dyn Store>) -> Server<A> {
    let hub = Hub::start(app, config, store);
    let routes = hub.configure();
    let srv = actix_test::start(move || WebApp::new().configure(routes.clone()));
    Server { srv, hub }
}

/// A fresh random session key (32 hex chars).
pub fn new_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fresh session with two tabs, `a` (the leader) then `b`, joined.
pub async fn joined_pair<A: App>(server: &Server<A>) -> (String, Client, Client) {
    let key = new_key();
    let mut a = Client::connect(server, "a").await;
    let mut b = Client::connect(server, "b").await;
    a.join(&key, None).await;
    b.join(&key, None).await;
    (key, a, b)
}

/// One received Phoenix message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub join_ref: Option<String>,
    pub reference: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

/// The state a client holds for one session: applies snapshots and deltas
/// exactly as a real client would, and checks seqs are gapless.
#[derive(Debug, Clone, Default)]
pub struct Mirror {
    pub state: Value,
    pub epoch: String,
    pub seq: u64,
    /// Every seq applied, in order.
    pub seqs: Vec<u64>,
}

impl Mirror {
    /// Applies an ok join reply's response (snapshot, replay or current).
    pub fn apply_join(&mut self, response: &Value) {
        match response["resume"].as_str().unwrap() {
            "snapshot" => {
                self.state = response["state"].clone();
                self.seq = response["seq"].as_u64().unwrap();
            }
            "replay" => {
                for d in response["deltas"].as_array().unwrap() {
                    self.apply_delta(d);
                }
            }
            "current" => {}
            other => panic!("unknown resume {other}"),
        }
        self.epoch = response["epoch"].as_str().unwrap().to_owned();
        assert_eq!(
            self.seq,
            response["seq"].as_u64().unwrap(),
            "after join the mirror is at the session's seq"
        );
    }

    /// Applies one `delta` payload; panics on a gap.
    pub fn apply_delta(&mut self, delta: &Value) {
        let seq = delta["seq"].as_u64().unwrap();
        assert_eq!(
            seq,
            self.seq + 1,
            "deltas must be gapless: at {} got {}",
            self.seq,
            seq
        );
        let patch: json_patch::Patch = serde_json::from_value(delta["patch"].clone()).unwrap();
        json_patch::patch(&mut self.state, &patch).unwrap();
        self.seq = seq;
        self.seqs.push(seq);
    }

    /// The texts of the demo's todos in the mirrored state, in order.
    pub fn todo_texts(&self) -> Vec<&str> {
        self.state["todos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["text"].as_str().unwrap())
            .collect()
    }

    /// The cursor to send on a rejoin.
    pub fn cursor(&self) -> Value {
        json!({"epoch": self.epoch, "seq": self.seq})
    }
}

/// A Phoenix V2 client on a real WebSocket.
pub struct Client {
    framed: Framed<BoxedSocket, Codec>,
    buffer: VecDeque<Msg>,
    next_ref: u64,
    pub tab_id: String,
    /// Join ref of each joined topic.
    pub join_refs: std::collections::HashMap<String, String>,
}

impl Client {
    /// Connects with `tab_id` to `/socket/websocket?vsn=2.0.0`.
    pub async fn connect<A: App>(server: &Server<A>, tab_id: &str) -> Client {
        Self::connect_query(server, &format!("vsn=2.0.0&tab_id={tab_id}"), tab_id).await
    }

    /// Connects with an explicit query string.
    pub async fn connect_query<A: App>(server: &Server<A>, query: &str, tab_id: &str) -> Client {
        Self::connect_url(
            &server.srv.url(&format!("/socket/websocket?{query}")),
            tab_id,
        )
        .await
    }

    /// Connects to a full socket URL (e.g. of a `tabhub` process).
    pub async fn connect_url(url: &str, tab_id: &str) -> Client {
        Self::try_connect_with(url, tab_id, &[])
            .await
            .unwrap_or_else(|e| panic!("websocket connect failed: {e}"))
    }

    /// Connects with extra request headers (a cookie, say); the error says
    /// why the upgrade was refused (e.g. its HTTP status).
    pub async fn try_connect_with(
        url: &str,
        tab_id: &str,
        headers: &[(&str, &str)],
    ) -> Result<Client, awc::error::WsClientError> {
        let mut request = awc::Client::default()
            .ws(url)
            .max_frame_size(64 * 1024 * 1024);
        for (name, value) in headers {
            request = request.set_header(*name, *value);
        }
        let (_resp, framed) = request.connect().await?;
        Ok(Client {
            framed,
            buffer: VecDeque::new(),
            next_ref: 1,
            tab_id: tab_id.to_owned(),
            join_refs: Default::default(),
        })
    }

    fn new_ref(&mut self) -> String {
        let r = self.next_ref.to_string();
        self.next_ref += 1;
        r
    }

    /// Sends one text frame as is.
    pub async fn send_text(&mut self, text: &str) {
        self.framed
            .send(Message::Text(text.to_owned().into()))
            .await
            .unwrap();
    }

    /// Sends one raw WebSocket message.
    pub async fn send_message(&mut self, msg: Message) {
        self.framed.send(msg).await.unwrap();
    }

    /// Sends one WebSocket message; the error if the socket refused it.
    pub async fn try_send(&mut self, msg: Message) -> Result<(), String> {
        self.framed.send(msg).await.map_err(|e| e.to_string())
    }

    /// Sends `[join_ref, ref, topic, event, payload]`; returns the ref.
    pub async fn push(&mut self, topic: &str, event: &str, payload: Value) -> String {
        let r = self.new_ref();
        let join_ref = self.join_refs.get(topic).cloned();
        let frame = json!([join_ref, r, topic, event, payload]);
        self.send_text(&frame.to_string()).await;
        r
    }

    /// Reads the next WebSocket frame (text frames are not buffered here).
    pub async fn next_frame(&mut self) -> Option<Frame> {
        let f = tokio::time::timeout(WAIT, self.framed.next())
            .await
            .expect("timed out waiting for a frame");
        f.map(|r| r.unwrap_or_else(|e| panic!("websocket error: {e}")))
    }

    /// Reads until the server closes; returns its close code.
    pub async fn expect_close(&mut self) -> u16 {
        loop {
            match self.next_frame().await {
                Some(Frame::Close(reason)) => {
                    return reason.map(|r| u16::from(r.code)).unwrap_or(1005)
                }
                Some(_) => continue,
                None => panic!("connection ended without a close frame"),
            }
        }
    }

    async fn read_msg(&mut self) -> Msg {
        loop {
            match self.next_frame().await {
                Some(Frame::Text(bytes)) => {
                    let v: Value = serde_json::from_slice(&bytes).unwrap();
                    let a = v.as_array().unwrap();
                    return Msg {
                        join_ref: a[0].as_str().map(str::to_owned),
                        reference: a[1].as_str().map(str::to_owned),
                        topic: a[2].as_str().unwrap().to_owned(),
                        event: a[3].as_str().unwrap().to_owned(),
                        payload: a[4].clone(),
                    };
                }
                Some(Frame::Ping(p)) => self.framed.send(Message::Pong(p)).await.unwrap(),
                Some(Frame::Close(reason)) => {
                    panic!("closed by server while waiting for a message: {reason:?}")
                }
                Some(_) => {}
                None => panic!("connection ended while waiting for a message"),
            }
        }
    }

    /// The next message, or `None` once the connection failed, closed or
    /// stayed silent for `WAIT` (for tests that kill the server).
    pub async fn try_next_msg(&mut self) -> Option<Msg> {
        if let Some(m) = self.buffer.pop_front() {
            return Some(m);
        }
        loop {
            let frame = tokio::time::timeout(WAIT, self.framed.next())
                .await
                .ok()??
                .ok()?;
            match frame {
                Frame::Text(bytes) => {
                    let v: Value = serde_json::from_slice(&bytes).ok()?;
                    let a = v.as_array()?;
                    return Some(Msg {
                        join_ref: a[0].as_str().map(str::to_owned),
                        reference: a[1].as_str().map(str::to_owned),
                        topic: a[2].as_str()?.to_owned(),
                        event: a[3].as_str()?.to_owned(),
                        payload: a[4].clone(),
                    });
                }
                Frame::Ping(p) => self.framed.send(Message::Pong(p)).await.ok()?,
                Frame::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Sends a push, or `None` if the connection is gone.
    pub async fn try_push(&mut self, topic: &str, event: &str, payload: Value) -> Option<String> {
        let r = self.new_ref();
        let join_ref = self.join_refs.get(topic).cloned();
        let frame = json!([join_ref, r, topic, event, payload]);
        self.framed
            .send(Message::Text(frame.to_string().into()))
            .await
            .ok()?;
        Some(r)
    }

    /// The next message, from the buffer first.
    pub async fn next_msg(&mut self) -> Msg {
        match self.buffer.pop_front() {
            Some(m) => m,
            None => self.read_msg().await,
        }
    }

    /// The first message matching `pred`; others stay buffered in order.
    pub async fn wait_for(&mut self, pred: impl Fn(&Msg) -> bool) -> Msg {
        if let Some(i) = self.buffer.iter().position(&pred) {
            return self.buffer.remove(i).unwrap();
        }
        loop {
            let m = self.read_msg().await;
            if pred(&m) {
                return m;
            }
            self.buffer.push_back(m);
        }
    }

    /// Waits for the reply to push `reference`; returns `{status, response}`.
    pub async fn reply(&mut self, reference: &str) -> Value {
        let r = reference.to_owned();
        self.wait_for(move |m| m.event == "phx_reply" && m.reference.as_deref() == Some(&r))
            .await
            .payload
    }

    /// Waits for the next push of `event` on `topic`.
    pub async fn wait_event(&mut self, topic: &str, event: &str) -> Msg {
        let (t, e) = (topic.to_owned(), event.to_owned());
        self.wait_for(move |m| m.topic == t && m.event == e).await
    }

    /// Messages received so far and not consumed (buffered).
    pub fn drain_buffer(&mut self) -> Vec<Msg> {
        self.buffer.drain(..).collect()
    }

    /// Joins `session:KEY` with `payload`; returns `{status, response}`.
    pub async fn join_with(&mut self, key: &str, payload: Value) -> Value {
        let r = self.send_join(key, payload).await;
        self.reply(&r).await
    }

    /// Sends a `phx_join` for `session:KEY` without waiting for its reply;
    /// returns its ref (also its join_ref), for [`Client::reply`].
    pub async fn send_join(&mut self, key: &str, payload: Value) -> String {
        let topic = format!("session:{key}");
        let r = self.new_ref();
        self.join_refs.insert(topic.clone(), r.clone());
        let frame = json!([r, r, topic, "phx_join", payload]);
        self.send_text(&frame.to_string()).await;
        r
    }

    /// Asserts that nothing arrives for `ms` milliseconds (what is expected
    /// is held back by something the test controls, e.g. a gate).
    pub async fn assert_silent_for(&mut self, ms: u64) {
        if let Some(m) = self.buffer.front() {
            panic!("expected nothing yet, got {m:?}");
        }
        let got = tokio::time::timeout(Duration::from_millis(ms), self.read_msg()).await;
        if let Ok(m) = got {
            panic!("expected nothing yet, got {m:?}");
        }
    }

    /// Joins with a cursor (or none); asserts ok and returns the response.
    pub async fn join(&mut self, key: &str, cursor: Option<Value>) -> Value {
        let reply = self.join_with(key, json!({ "cursor": cursor })).await;
        assert_eq!(reply["status"], "ok", "join refused: {reply}");
        reply["response"].clone()
    }

    /// Joins and builds a mirror from the reply.
    pub async fn join_mirror(&mut self, key: &str, mirror: Option<&Mirror>) -> (Mirror, Value) {
        let mut m = mirror.cloned().unwrap_or_default();
        let response = self.join(key, mirror.map(Mirror::cursor)).await;
        m.apply_join(&response);
        (m, response)
    }

    /// Pushes an app event with a fresh id; returns `{status, response}`.
    pub async fn event(&mut self, key: &str, name: &str, payload: Value) -> Value {
        let id = uuid::Uuid::new_v4().to_string();
        self.event_with_id(key, &id, name, payload).await
    }

    /// Pushes an app event with the given id; returns `{status, response}`.
    pub async fn event_with_id(
        &mut self,
        key: &str,
        id: &str,
        name: &str,
        payload: Value,
    ) -> Value {
        let topic = format!("session:{key}");
        let r = self
            .push(
                &topic,
                "event",
                json!({"id": id, "name": name, "payload": payload}),
            )
            .await;
        self.reply(&r).await
    }

    /// Re-submits a received `chain` push as an `event` carrying its chain
    /// id; returns `{status, response}`.
    pub async fn resubmit(&mut self, key: &str, chain: &Msg) -> Value {
        let p = &chain.payload;
        let event = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "name": p["name"], "payload": p["payload"], "chain": p["chain"],
        });
        let r = self.push(&format!("session:{key}"), "event", event).await;
        self.reply(&r).await
    }

    /// Applies every buffered and arriving delta of `key` to `mirror` until
    /// it reaches `seq`.
    pub async fn catch_up(&mut self, key: &str, mirror: &mut Mirror, seq: u64) {
        let topic = format!("session:{key}");
        while mirror.seq < seq {
            let d = self.wait_event(&topic, "delta").await;
            mirror.apply_delta(&d.payload);
        }
    }
}

/// Starts the demo with a bystander tab joined to a fresh session, which
/// it has moved to seq 1.
pub async fn with_bystander(config: Config) -> (Server<Demo>, String, Client) {
    let (server, _store) = start_demo(config);
    let key = new_key();
    let mut b = Client::connect(&server, "bystander").await;
    b.join(&key, None).await;
    let r = b.event(&key, "add_todo", json!({"text": "before"})).await;
    assert_eq!(r["response"]["seq"], 1);
    (server, key, b)
}

/// The bystander can still push, and its event gets `seq`: the session
/// carried on, untouched by whatever another connection did.
pub async fn bystander_unaffected(b: &mut Client, key: &str, seq: u64) {
    let r = b.event(key, "add_todo", json!({"text": "after"})).await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": seq}}));
}
