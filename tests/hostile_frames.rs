//! A property, over real sockets (issue 14): any sequence of frames from one
//! connection never panics the server, never stops the session, and never
//! changes what another tab of the session sees.
//!
//! One demo server serves every case. In each, a well-behaved tab B joins a
//! fresh session, then a hostile connection A, joined to the same key,
//! sends a generated sequence: random text, truncated JSON, arrays of the
//! wrong arity or member types, huge and odd numbers, deep nesting, valid
//! and invalid events with random names, payloads, ids and chains, joins,
//! leaves, heartbeats, visibility and cancel pushes, binary, fragmented,
//! oversized, ping and close messages. After every message A sends a
//! heartbeat and reads until its reply (A is alive) or a close; a closed A
//! reconnects and rejoins for the rest of the sequence. Then:
//!
//! - A's connection was only ever closed with a code docs/protocol.md
//!   section 14 (close codes) gives for client faults (1000 echo, 1002,
//!   1003, 1007, 1009), and every text message it got was a well-formed
//!   frame;
//! - B is still joined and gets the delta of a probe event it pushes;
//! - B's mirror (its join's state plus every delta since) equals a fresh
//!   join's snapshot at the same seq, and B got nothing a tab of another
//!   tab's session should not (no effect of A's, no `phx_error`/`phx_close`);
//! - the server still answers `/healthz`.
//!
//! 32 cases by default; `PROPTEST_CASES=N` runs more.

#![allow(clippy::unwrap_used)]

mod common;
mod hostile;

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use common::{new_key, start_demo, Client, Mirror, Server, WAIT};
use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::Config;

use hostile::moves::*;
use hostile::strategies::*;

/// The close codes a client fault may get (docs/protocol.md section 14
/// (close codes)), and 1000, the echo of the client's own close.
const CLIENT_FAULT_CLOSES: &[u16] = &[1000, 1002, 1003, 1007, 1009];

/// The hostile connection A: reconnects and rejoins after every close.
struct Hostile {
    url: String,
    topic: String,
    socket: Option<Framed<BoxedSocket, Codec>>,
    join_ref: String,
    joins: u64,
    heartbeats: u64,
    /// Close codes received, in order.
    closes: Vec<u16>,
}

impl Hostile {
    fn new(url: String, topic: String) -> Self {
        Hostile {
            url,
            topic,
            socket: None,
            join_ref: String::new(),
            joins: 0,
            heartbeats: 0,
            closes: Vec::new(),
        }
    }

    /// Connects and joins the case's session, unless connected.
    async fn ensure_joined(&mut self) -> Result<(), TestCaseError> {
        if self.socket.is_some() {
            return Ok(());
        }
        let (_resp, socket) = awc::Client::default()
            .ws(self.url.as_str())
            .max_frame_size(64 * 1024 * 1024)
            .connect()
            .await
            .map_err(|e| TestCaseError::fail(format!("A could not reconnect: {e}")))?;
        self.socket = Some(socket);
        self.joins += 1;
        self.join_ref = format!("a{}", self.joins);
        let join = json!([self.join_ref, self.join_ref, self.topic, "phx_join", {}]);
        self.send(vec![Out::Message(Message::Text(join.to_string().into()))])
            .await?;
        let reply = self.read_until_reply(&self.join_ref.clone()).await?;
        match reply {
            Some(r) if r["status"] == "ok" => Ok(()),
            other => Err(TestCaseError::fail(format!("A's rejoin failed: {other:?}"))),
        }
    }

    /// Sends a move's messages; a failed send means the server closed A,
    /// so A then reads what is left, up to the close.
    async fn send(&mut self, outs: Vec<Out>) -> Result<(), TestCaseError> {
        for out in outs {
            let Some(mut socket) = self.socket.take() else {
                return Ok(());
            };
            let sent = match out {
                Out::Message(m) => socket.send(m).await.is_ok(),
                Out::Raw(bytes) => {
                    let mut parts = socket.into_parts();
                    parts.write_buf.extend_from_slice(&bytes);
                    socket = Framed::from_parts(parts);
                    SinkExt::<Message>::flush(&mut socket).await.is_ok()
                }
            };
            self.socket = Some(socket);
            if !sent {
                self.read_until_reply("\u{0}").await?;
                self.socket = None;
            }
        }
        Ok(())
    }

    /// Waits until the server has handled everything sent so far: a
    /// heartbeat's reply (A is alive) or a close (A is gone).
    async fn sync(&mut self) -> Result<(), TestCaseError> {
        if self.socket.is_none() {
            return Ok(());
        }
        self.heartbeats += 1;
        let r = format!("hb{}", self.heartbeats);
        let hb = json!([null, r, "phoenix", "heartbeat", {}]);
        self.send(vec![Out::Message(Message::Text(hb.to_string().into()))])
            .await?;
        self.read_until_reply(&r).await.map(|_| ())
    }

    /// Reads until the reply to `reference` (returned), or a close (`None`,
    /// A is gone). Fails on silence, a close code no client fault gets, or
    /// a text message that is not a frame.
    async fn read_until_reply(&mut self, reference: &str) -> Result<Option<Value>, TestCaseError> {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return Ok(None);
            };
            let next = tokio::time::timeout(WAIT, socket.next())
                .await
                .map_err(|_| TestCaseError::fail("A got neither its reply nor a close"))?;
            match next {
                Some(Ok(Frame::Text(bytes))) => {
                    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                        TestCaseError::fail(format!("A got a message that is not JSON: {e}"))
                    })?;
                    let well_formed = v.as_array().is_some_and(|a| {
                        a.len() == 5
                            && (a[0].is_null() || a[0].is_string())
                            && (a[1].is_null() || a[1].is_string())
                            && a[2].is_string()
                            && a[3].is_string()
                            && a[4].is_object()
                    });
                    prop_assert!(well_formed, "A got a malformed frame: {}", v);
                    if v[3] == "phx_reply" && v[1] == reference {
                        return Ok(Some(v[4].clone()));
                    }
                }
                Some(Ok(Frame::Ping(p))) => {
                    let _ = socket.send(Message::Pong(p)).await;
                }
                Some(Ok(Frame::Close(reason))) => {
                    let code = reason.map_or(1005, |r| u16::from(r.code));
                    self.closes.push(code);
                    self.socket = None;
                    prop_assert!(
                        CLIENT_FAULT_CLOSES.contains(&code),
                        "A was closed with {}, which no client fault gets",
                        code
                    );
                    return Ok(None);
                }
                Some(Ok(_)) => {}
                // The connection ended (after a close the client started,
                // or a framing error the codec refused to read on).
                Some(Err(_)) | None => {
                    self.socket = None;
                    return Ok(None);
                }
            }
        }
    }
}

/// What B, the well-behaved tab, may receive on its session's topic while
/// another connection misbehaves.
const ALLOWED_FOR_B: &[&str] = &["delta", "tabs", "leader", "chain", "task", "phx_reply"];

/// Applies B's deltas up to `seq`; returns the event ids they carried.
async fn catch_up(b: &mut Client, topic: &str, mirror: &mut Mirror, seq: u64) -> Vec<Value> {
    let mut ids = Vec::new();
    while mirror.seq < seq {
        let d = b.wait_event(topic, "delta").await;
        ids.push(d.payload["event_id"].clone());
        mirror.apply_delta(&d.payload);
    }
    ids
}

/// One case: B joins, A plays `moves`, then B and the server are checked.
async fn one_case(server: &Server<Demo>, moves: Vec<Move>) -> Result<(), TestCaseError> {
    let key = new_key();
    let topic = format!("session:{key}");
    let mut b = Client::connect(server, "bystander").await;
    let (mut mirror, _) = b.join_mirror(&key, None).await;
    let r = b.event(&key, "add_todo", json!({"text": "before"})).await;
    prop_assert_eq!(&r["status"], "ok", "{}", r);
    catch_up(&mut b, &topic, &mut mirror, 1).await;

    let url = server.srv.url("/socket/websocket?vsn=2.0.0&tab_id=hostile");
    let mut a = Hostile::new(url, topic.clone());
    for m in &moves {
        a.ensure_joined().await?;
        let messages = m.render(&topic, &a.join_ref);
        a.send(messages).await?;
        a.sync().await?;
    }
    drop(a);

    // B is still joined: its probe is handled, and its delta reaches B.
    let probe = uuid::Uuid::new_v4().to_string();
    let r = b
        .event_with_id(&key, &probe, "add_todo", json!({"text": "probe"}))
        .await;
    prop_assert_eq!(&r["status"], "ok", "B's probe: {}", r);
    let seq = r["response"]["seq"].as_u64().unwrap();
    let ids = catch_up(&mut b, &topic, &mut mirror, seq).await;
    prop_assert!(
        ids.contains(&json!(probe)),
        "B did not get its probe's delta"
    );

    // B's view is the session's: a fresh join's snapshot at the same seq.
    let mut c = Client::connect(server, "checker").await;
    let fresh = c.join(&key, None).await;
    prop_assert_eq!(&fresh["resume"], "snapshot");
    catch_up(&mut b, &topic, &mut mirror, fresh["seq"].as_u64().unwrap()).await;
    prop_assert_eq!(
        &mirror.state,
        &fresh["state"],
        "B's mirror vs a fresh snapshot"
    );
    prop_assert_eq!(fresh["epoch"].as_str(), Some(mirror.epoch.as_str()));
    for m in b.drain_buffer() {
        prop_assert!(
            m.topic == topic && ALLOWED_FOR_B.contains(&m.event.as_str()),
            "B got {:?} while another connection misbehaved",
            m
        );
    }

    // The server still serves.
    let health = awc::Client::default()
        .get(server.srv.url("/healthz"))
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("/healthz: {e}")))?
        .status();
    prop_assert_eq!(health.as_u16(), 200);
    Ok(())
}

#[test]
fn any_frames_from_one_connection_leave_other_tabs_and_the_server_untouched() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    };
    let system = actix_rt::System::new();
    let (server, _store) = system.block_on(async { start_demo(Config::default()) });
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(hostile_move(), 1..=24), |moves| {
        system.block_on(one_case(&server, moves))
    });
    system.block_on(async move { drop(server) });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The heartbeat sync really waits: a hostile connection that sends only
/// heartbeats stays connected and each gets its reply.
#[actix_rt::test]
async fn the_hostile_connection_syncs_on_heartbeats() {
    let (server, _store) = start_demo(Config::default());
    let topic = format!("session:{}", new_key());
    let url = server.srv.url("/socket/websocket?vsn=2.0.0&tab_id=hostile");
    let mut a = Hostile::new(url, topic);
    for _ in 0..3 {
        a.ensure_joined().await.unwrap();
        a.sync().await.unwrap();
    }
    assert_eq!((a.joins, a.heartbeats), (1, 3));
    assert!(a.closes.is_empty());
}
