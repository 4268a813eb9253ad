//! Liveness of one connection on paused time (docs/protocol.md section 4
//! (heartbeat and liveness)): a connection silent for the client timeout is
//! closed with 1001 (and not before), its end reaches the supervisor as
//! `TabGone`; the server pings every third of the timeout, so a client that
//! only answers pings stays connected; and a heartbeat is answered with an
//! ok reply.
//!
//! Each test starts a real [`TabActor`] as the service's `socket` route
//! does, over an in-memory WebSocket: the request body is a channel the
//! test writes masked client frames into, and the test decodes the
//! response body as a client would. The supervisor is a recorder actor.
//! The clock moves only by `tokio::time::advance`; waiting for what the
//! actors do is a few yields, which never move it.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler};
use actix_codec::{Decoder, Encoder};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::test::TestRequest;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::FromRequest;
use awc::ws::{Codec, Frame as WsFrame, Message as WsMessage};
use futures_util::{FutureExt, Stream};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::advance;

use super::{Authorize, Connect, JoinToAuthorize, TabActor, TabShared};
use crate::config::Config;
use crate::ids::{ConnId, TabId};
use crate::messages::Identity;
use crate::messages::{
    ActivityClock, Join, Leave, SetVisibility, SupervisorLink, TabGone, TabStarted,
};

const TIMEOUT: Duration = Duration::from_secs(3);
/// The timer wheel's resolution: a timer due at `t` has fired once the
/// clock is past `t` by this, and not before `t`.
const MS: Duration = Duration::from_millis(1);
/// Yields that let a frame travel actor -> writer task -> response body (or
/// back), and a message reach the recorder: two do today.
const SETTLE: usize = 64;

fn config() -> Config {
    Config {
        client_timeout: TIMEOUT,
        ..Config::default()
    }
}

/// What the supervisor was sent.
#[derive(Debug, PartialEq)]
enum Seen {
    Started(ConnId),
    Gone(ConnId),
    /// A join, leave or visibility change (none in these tests).
    Other,
}

/// Stands in for the supervisor: records what tabs send it.
struct Recorder(mpsc::UnboundedSender<Seen>);

impl Actor for Recorder {
    type Context = Context<Self>;
}

macro_rules! record {
    ($($msg:ty => $seen:expr;)*) => {$(
        impl Handler<$msg> for Recorder {
            type Result = ();

            fn handle(&mut self, msg: $msg, _ctx: &mut Self::Context) {
                let seen: fn($msg) -> Seen = $seen;
                let _ = self.0.send(seen(msg));
            }
        }
    )*};
}

record! {
    Join => |_| Seen::Other;
    Leave => |_| Seen::Other;
    SetVisibility => |_| Seen::Other;
    TabStarted => |m| Seen::Started(m.conn);
    TabGone => |m| Seen::Gone(m.conn);
}

/// Lets the actors run without moving the paused clock: a yield keeps the
/// runtime busy, and only an idle runtime auto-advances.
async fn settle() {
    for _ in 0..SETTLE {
        tokio::task::yield_now().await;
    }
}

/// The client end of one in-process connection, and what its supervisor
/// was sent.
struct Client {
    /// The request body: bytes from the client.
    to_server: mpsc::UnboundedSender<Result<Bytes, PayloadError>>,
    /// The response body: bytes to the client.
    from_server: BoxBody,
    codec: Codec,
    buf: BytesMut,
    /// Whether the response body ended.
    ended: bool,
    supervisor: mpsc::UnboundedReceiver<Seen>,
    conn: ConnId,
}

impl Client {
    /// Upgrades a request and starts its `TabActor` as the `socket` route
    /// does; returns once the actor has started (and armed its timers).
    async fn connect() -> Self {
        let (seen_tx, mut supervisor) = mpsc::unbounded_channel();
        let recorder = Recorder(seen_tx).start();
        let authorize: Authorize =
            Arc::new(|join: JoinToAuthorize| Box::pin(async move { (Ok(Ok(())), join) }));
        let connect: Connect = Arc::new(|_| Box::pin(async { Ok(Ok(Arc::new(()) as Identity)) }));
        let shared = TabShared {
            connect,
            config: Arc::new(config()),
            supervisor: SupervisorLink {
                join: recorder.clone().recipient(),
                leave: recorder.clone().recipient(),
                visibility: recorder.clone().recipient(),
                started: recorder.clone().recipient(),
                gone: recorder.recipient(),
            },
            clock: ActivityClock::default(),
            next_conn: std::sync::Arc::new(AtomicU64::new(7)),
            authorize,
            conns_per_ip: super::ConnsPerIp::new(0),
            metrics: Arc::default(),
        };

        let (to_server, mut rx) = mpsc::unbounded_channel();
        let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
            Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        let mut payload = Payload::Stream { payload: stream };
        let req = TestRequest::get()
            .uri("/socket/websocket?vsn=2.0.0&tab_id=tab")
            .insert_header(("upgrade", "websocket"))
            .insert_header(("connection", "upgrade"))
            .insert_header(("sec-websocket-version", "13"))
            .insert_header(("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="))
            .to_http_request();
        let body = web::Payload::from_request(&req, &mut payload)
            .await
            .expect("a payload");
        let (response, session, stream) = actix_ws::handle(&req, body).expect("an upgrade");
        assert_eq!(response.status().as_u16(), 101);
        let stream = stream.max_frame_size(shared.config.max_frame_bytes);
        let tab = TabId::parse("tab").expect("a tab id");
        TabActor::create(|ctx| {
            ctx.add_stream(stream);
            TabActor::new(&shared, tab, Arc::new(()), BTreeMap::new(), session, ctx)
        });

        settle().await;
        let started = supervisor.try_recv().expect("TabStarted");
        assert_eq!(started, Seen::Started(ConnId(7)));
        Self {
            to_server,
            from_server: response.into_body(),
            codec: Codec::new().client_mode(),
            buf: BytesMut::new(),
            ended: false,
            supervisor,
            conn: ConnId(7),
        }
    }

    /// Sends a (masked) client frame.
    fn send(&mut self, msg: WsMessage) {
        let mut buf = BytesMut::new();
        self.codec
            .encode(msg, &mut buf)
            .expect("an encodable frame");
        self.to_server
            .send(Ok(buf.freeze()))
            .expect("the server reads");
    }

    /// The frames the server wrote since the last call, once the actors
    /// have settled.
    async fn received(&mut self) -> Vec<WsFrame> {
        settle().await;
        while !self.ended {
            let next = std::future::poll_fn(|cx| Pin::new(&mut self.from_server).poll_next(cx));
            match next.now_or_never() {
                Some(Some(chunk)) => self.buf.extend_from_slice(&chunk.expect("a body chunk")),
                Some(None) => self.ended = true,
                None => break,
            }
        }
        let mut frames = Vec::new();
        while let Some(frame) = self.codec.decode(&mut self.buf).expect("a valid frame") {
            frames.push(frame);
        }
        frames
    }

    /// What the supervisor was sent since the last call.
    fn supervisor_saw(&mut self) -> Vec<Seen> {
        std::iter::from_fn(|| self.supervisor.try_recv().ok()).collect()
    }
}

/// The close code among `frames`, if one is a close frame.
fn close_code(frames: &[WsFrame]) -> Option<u16> {
    frames.iter().find_map(|f| match f {
        WsFrame::Close(reason) => Some(reason.as_ref().map_or(1005, |r| r.code.into())),
        _ => None,
    })
}

fn pings(frames: &[WsFrame]) -> Vec<Bytes> {
    frames
        .iter()
        .filter_map(|f| match f {
            WsFrame::Ping(payload) => Some(payload.clone()),
            _ => None,
        })
        .collect()
}

#[actix_rt::test]
async fn a_connection_silent_for_the_client_timeout_is_closed_with_1001_and_not_before() {
    tokio::time::pause();
    let mut client = Client::connect().await;

    advance(TIMEOUT - MS).await;
    let frames = client.received().await;
    assert_eq!(close_code(&frames), None, "just before the timeout");
    assert!(!client.ended);
    assert_eq!(
        pings(&frames).len(),
        2,
        "pinged at a third and two thirds of it"
    );
    assert_eq!(client.supervisor_saw(), []);

    advance(2 * MS).await;
    let frames = client.received().await;
    assert_eq!(close_code(&frames), Some(1001), "just after: {frames:?}");
    assert!(client.ended, "nothing follows the close frame");
    let conn = client.conn;
    assert_eq!(client.supervisor_saw(), [Seen::Gone(conn)]);
}

#[actix_rt::test]
async fn a_client_that_only_answers_pings_stays_connected() {
    tokio::time::pause();
    let mut client = Client::connect().await;
    let interval = config().ping_interval();
    assert_eq!(interval, TIMEOUT / 3);

    // Off the ticks by a millisecond, so each step below passes one.
    advance(MS).await;
    let ticks = 4 * 3;
    for tick in 1..=ticks {
        advance(interval).await;
        let frames = client.received().await;
        assert_eq!(close_code(&frames), None, "at tick {tick}: {frames:?}");
        let pings = pings(&frames);
        assert_eq!(pings.len(), 1, "one ping per tick (tick {tick})");
        for payload in pings {
            client.send(WsMessage::Pong(payload));
        }
    }
    settle().await;
    assert!(!client.ended, "connected after four timeouts");
    assert_eq!(client.supervisor_saw(), [], "the tab never left");
}

#[actix_rt::test]
async fn a_heartbeat_is_answered_with_an_ok_reply_on_the_phoenix_topic() {
    tokio::time::pause();
    let mut client = Client::connect().await;
    client.send(WsMessage::Text(
        r#"[null,"1","phoenix","heartbeat",{}]"#.into(),
    ));
    let frames = client.received().await;
    let [WsFrame::Text(text)] = &frames[..] else {
        panic!("expected one text frame, got {frames:?}");
    };
    let reply: Value = serde_json::from_slice(text).expect("a JSON frame");
    assert_eq!(
        reply,
        json!([null, "1", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
}
