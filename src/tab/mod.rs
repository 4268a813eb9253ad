//! [`TabActor`]: one per WebSocket connection. It owns the socket: decodes
//! frames, answers heartbeats, keeps the connection's joins (topic -> session
//! link + join_ref), forwards pushes to sessions, and writes what sessions
//! deliver, in order, through a bounded outbound buffer. It knows nothing
//! of any session's state.
//!
//! - `mod.rs`: the actor, frame dispatch, joins.
//! - `outbound.rs`: the bounded buffer and the socket writer.
//! - `rate.rs`: the per-tab token bucket for events.
//! - `messages.rs`: what sessions and the supervisor send it.

mod messages;
mod outbound;
mod rate;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, ActorContext, AsyncContext, Handler, Running, StreamHandler};
use actix_web::web::BytesMut;
use actix_ws::{Item, Message, ProtocolError};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::ids::{ConnId, SessionKey, TabId};
use crate::protocol::close::CloseCode;
use crate::protocol::frame::{self, Frame};
use crate::protocol::message::{
    error_reply, ok_reply, CancelPayload, ErrorResponse, EventPayload, JoinPayload,
    VisibilityPayload,
};
use crate::protocol::{event, reason, PHOENIX_TOPIC, SESSION_TOPIC_PREFIX};
use crate::session::{Cancel, SessionLink, Submit};
use crate::supervisor::{Join, Leave, SetVisibility, SupervisorLink, TabGone, TabStarted};

pub(crate) use messages::{CloseConnection, Deliver, Outgoing};
use outbound::Outbound;
use rate::TokenBucket;

/// One join of this connection.
struct JoinState {
    key: SessionKey,
    join_ref: Arc<str>,
    /// `None` while the join waits for its reply.
    session: Option<SessionLink>,
    /// When this tab was last active in the session (joined or submitted
    /// an event), on the service-wide activity clock. Read by the
    /// supervisor's election.
    activity: Arc<AtomicU64>,
}

/// What the service shares with every connection.
pub(crate) struct TabShared {
    pub(crate) config: Arc<Config>,
    pub(crate) supervisor: SupervisorLink,
    /// Service-wide activity clock: a counter, so "most recently active" is
    /// a total order without clock ties.
    pub(crate) clock: Arc<AtomicU64>,
    /// Source of connection ids.
    pub(crate) next_conn: AtomicU64,
}

/// The actor of one WebSocket connection. See the module docs.
pub(crate) struct TabActor {
    conn: ConnId,
    tab: TabId,
    config: Arc<Config>,
    supervisor: SupervisorLink,
    clock: Arc<AtomicU64>,
    connect_params: Arc<BTreeMap<String, String>>,
    joins: HashMap<Arc<str>, JoinState>,
    out: Outbound,
    last_seen: Instant,
    bucket: TokenBucket,
    /// A fragmented text message being collected.
    fragments: Option<BytesMut>,
    closed: bool,
}

impl TabActor {
    pub(crate) fn new(
        shared: &TabShared,
        tab: TabId,
        connect_params: BTreeMap<String, String>,
        session: actix_ws::Session,
    ) -> Self {
        let config = shared.config.clone();
        let now = Instant::now();
        Self {
            conn: ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed)),
            tab,
            supervisor: shared.supervisor.clone(),
            clock: shared.clock.clone(),
            connect_params: Arc::new(connect_params),
            joins: HashMap::new(),
            out: Outbound::start(
                session,
                config.outbound_max_messages,
                config.outbound_max_bytes,
            ),
            last_seen: now,
            bucket: TokenBucket::new(config.rate_events_per_sec, config.rate_burst, now),
            fragments: None,
            closed: false,
            config,
        }
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Closes the connection with `code` after what is already queued.
    fn close(&mut self, code: CloseCode, ctx: &mut actix::Context<Self>) {
        if !self.closed {
            self.closed = true;
            tracing::debug!(tab = %self.tab, code = code.code(), "closing connection");
            self.out.close(code);
        }
        ctx.stop();
    }

    /// Writes a reply or control frame. These may exceed the buffer's limits
    /// a little; a connection that lets them pile up past twice the limits
    /// is closed with 1013.
    fn write(
        &mut self,
        join_ref: Option<&str>,
        reply_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: &str,
        ctx: &mut actix::Context<Self>,
    ) {
        if self.closed {
            return;
        }
        if self.out.hopeless() {
            tracing::warn!(tab = %self.tab, "outbound buffer far over its limit; closing");
            return self.close(CloseCode::Overloaded, ctx);
        }
        self.out
            .text(frame::encode(join_ref, reply_ref, topic, event, payload));
    }

    fn reply(
        &mut self,
        join_ref: Option<&str>,
        reply_ref: Option<&str>,
        topic: &str,
        response: &str,
        ctx: &mut actix::Context<Self>,
    ) {
        self.write(join_ref, reply_ref, topic, event::REPLY, response, ctx);
    }

    fn reply_error(
        &mut self,
        frame: &Frame,
        reason: &str,
        message: &str,
        ctx: &mut actix::Context<Self>,
    ) {
        let response = error_reply(&ErrorResponse::new(reason, message));
        self.reply(
            frame.join_ref.as_deref(),
            frame.reference.as_deref(),
            &frame.topic,
            &response,
            ctx,
        );
    }

    /// Drops a join the session can no longer feed in order (its outbound
    /// buffer overflowed): the client gets `phx_error` and rejoins with its
    /// cursor, catching up by replay or snapshot.
    fn error_join(&mut self, topic: &Arc<str>, ctx: &mut actix::Context<Self>) {
        if let Some(join) = self.joins.remove(topic) {
            tracing::info!(tab = %self.tab, key = %join.key, "outbound buffer full; join errored, client should rejoin");
            self.leave_session(&join);
            let r = Some(&*join.join_ref);
            self.write(r, r, topic, event::ERROR, "{}", ctx);
        }
    }

    fn leave_session(&self, join: &JoinState) {
        self.supervisor.leave.do_send(Leave {
            key: join.key.clone(),
            tab: self.tab.clone(),
            conn: self.conn,
        });
    }

    fn on_text(&mut self, text: &str, ctx: &mut actix::Context<Self>) {
        let frame = match frame::decode(text) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::debug!(tab = %self.tab, error = %e, "malformed frame");
                return self.close(CloseCode::MalformedFrame, ctx);
            }
        };
        match (frame.topic.as_str(), frame.event.as_str()) {
            (PHOENIX_TOPIC, event::HEARTBEAT) => {
                let ok = ok_reply(&json!({}));
                self.reply(None, frame.reference.as_deref(), PHOENIX_TOPIC, &ok, ctx);
            }
            (_, event::JOIN) => self.on_join(frame, ctx),
            (_, event::LEAVE) => self.on_leave(frame, ctx),
            _ => self.on_push(frame, ctx),
        }
    }

    fn on_join(&mut self, frame: Frame, ctx: &mut actix::Context<Self>) {
        let Some(key) = frame.topic.strip_prefix(SESSION_TOPIC_PREFIX) else {
            return self.reply_error(
                &frame,
                reason::UNMATCHED_TOPIC,
                "topics are session:<KEY>",
                ctx,
            );
        };
        let key = match SessionKey::parse(key) {
            Ok(key) => key,
            Err(e) => return self.reply_error(&frame, reason::INVALID_KEY, &e.to_string(), ctx),
        };
        let payload: JoinPayload = match decode_payload(&frame.payload) {
            Ok(p) => p,
            Err(e) => return self.reply_error(&frame, reason::INVALID_PAYLOAD, &e, ctx),
        };
        let topic: Arc<str> = Arc::from(frame.topic.as_str());
        if !self.joins.contains_key(&topic)
            && self.joins.len() >= self.config.max_joins_per_connection
        {
            let msg = format!(
                "at most {} joins per connection",
                self.config.max_joins_per_connection
            );
            return self.reply_error(&frame, reason::TOO_MANY_JOINS, &msg, ctx);
        }
        // phoenix.js sends join_ref == ref on joins; accept either alone.
        let join_ref: Arc<str> = Arc::from(
            frame
                .join_ref
                .as_deref()
                .or(frame.reference.as_deref())
                .unwrap_or(""),
        );
        let activity = Arc::new(AtomicU64::new(self.tick()));
        // A join to a joined topic replaces the old join (Phoenix semantics):
        // deliveries for the old join_ref are dropped from now on.
        self.joins.insert(
            topic,
            JoinState {
                key: key.clone(),
                join_ref: join_ref.clone(),
                session: None,
                activity: activity.clone(),
            },
        );
        self.supervisor.join.do_send(Join {
            key,
            tab: self.tab.clone(),
            conn: self.conn,
            tab_addr: ctx.address(),
            join_ref,
            reply_ref: frame.reference,
            cursor: payload.cursor,
            visibility: payload.visibility,
            params: payload.params,
            connect_params: self.connect_params.clone(),
            activity,
        });
    }

    fn on_leave(&mut self, frame: Frame, ctx: &mut actix::Context<Self>) {
        match self.joins.remove(frame.topic.as_str()) {
            Some(join) => {
                self.leave_session(&join);
                let ok = ok_reply(&json!({}));
                self.reply(
                    frame.join_ref.as_deref(),
                    frame.reference.as_deref(),
                    &frame.topic,
                    &ok,
                    ctx,
                );
            }
            None => self.reply_error(
                &frame,
                reason::UNMATCHED_TOPIC,
                "this topic is not joined",
                ctx,
            ),
        }
    }

    fn on_push(&mut self, frame: Frame, ctx: &mut actix::Context<Self>) {
        let joined = self.joins.get(frame.topic.as_str()).and_then(|j| {
            let same_join = frame.join_ref.as_deref().is_none_or(|r| r == &*j.join_ref);
            j.session
                .clone()
                .filter(|_| same_join)
                .map(|link| (j.key.clone(), j.join_ref.clone(), j.activity.clone(), link))
        });
        let Some((key, join_ref, activity, link)) = joined else {
            return self.reply_error(
                &frame,
                reason::UNMATCHED_TOPIC,
                "this topic is not joined",
                ctx,
            );
        };
        match frame.event.as_str() {
            event::EVENT => {
                let ev: EventPayload = match decode_payload(&frame.payload) {
                    Ok(ev) => ev,
                    Err(e) => return self.reply_error(&frame, reason::INVALID_PAYLOAD, &e, ctx),
                };
                if !self.bucket.take(Instant::now()) {
                    return self.reply_error(
                        &frame,
                        reason::RATE_LIMITED,
                        "too many events from this tab; retry later",
                        ctx,
                    );
                }
                if link.queued.fetch_add(1, Ordering::AcqRel) >= self.config.queue_len {
                    link.queued.fetch_sub(1, Ordering::AcqRel);
                    return self.reply_error(
                        &frame,
                        reason::QUEUE_FULL,
                        "the session's queue is full; retry later",
                        ctx,
                    );
                }
                if !link.submit.connected() {
                    link.queued.fetch_sub(1, Ordering::AcqRel);
                    let topic: Arc<str> = Arc::from(frame.topic.as_str());
                    return self.error_join(&topic, ctx);
                }
                activity.store(self.tick(), Ordering::Relaxed);
                link.submit.do_send(Submit {
                    tab: self.tab.clone(),
                    conn: self.conn,
                    join_ref,
                    reply_to: ctx.address().recipient(),
                    reply_ref: frame.reference,
                    event: ev,
                });
            }
            event::VISIBILITY => {
                let v: VisibilityPayload = match decode_payload(&frame.payload) {
                    Ok(v) => v,
                    Err(e) => return self.reply_error(&frame, reason::INVALID_PAYLOAD, &e, ctx),
                };
                self.supervisor.visibility.do_send(SetVisibility {
                    key,
                    tab: self.tab.clone(),
                    conn: self.conn,
                    visibility: v.visibility,
                });
                let ok = ok_reply(&json!({}));
                self.reply(
                    Some(&join_ref),
                    frame.reference.as_deref(),
                    &frame.topic,
                    &ok,
                    ctx,
                );
            }
            event::CANCEL => {
                let c: CancelPayload = match decode_payload(&frame.payload) {
                    Ok(c) => c,
                    Err(e) => return self.reply_error(&frame, reason::INVALID_PAYLOAD, &e, ctx),
                };
                link.cancel.do_send(Cancel {
                    tab: self.tab.clone(),
                    conn: self.conn,
                    join_ref,
                    reply_to: ctx.address().recipient(),
                    reply_ref: frame.reference,
                    task: c.task,
                });
            }
            other => {
                let msg = format!("unknown event {other:?} on a session topic");
                self.reply_error(&frame, reason::UNKNOWN_EVENT, &msg, ctx);
            }
        }
    }

    fn on_continuation(&mut self, item: Item, ctx: &mut actix::Context<Self>) {
        let (chunk, last) = match item {
            Item::FirstBinary(_) => return self.close(CloseCode::BinaryFrame, ctx),
            Item::FirstText(chunk) => {
                if self.fragments.is_some() {
                    return self.close(CloseCode::ProtocolError, ctx);
                }
                self.fragments = Some(BytesMut::new());
                (chunk, false)
            }
            Item::Continue(chunk) => (chunk, false),
            Item::Last(chunk) => (chunk, true),
        };
        let Some(buf) = self.fragments.as_mut() else {
            return self.close(CloseCode::ProtocolError, ctx);
        };
        if buf.len() + chunk.len() > self.config.max_frame_bytes {
            return self.close(CloseCode::TooLarge, ctx);
        }
        buf.extend_from_slice(&chunk);
        if last {
            let buf = self.fragments.take().unwrap_or_default();
            match std::str::from_utf8(&buf) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => self.close(CloseCode::MalformedFrame, ctx),
            }
        }
    }
}

/// Decodes a frame payload into one of the protocol's payload types, with a
/// message that says what was wrong.
fn decode_payload<T: DeserializeOwned>(payload: &Map<String, Value>) -> Result<T, String> {
    T::deserialize(Value::Object(payload.clone())).map_err(|e| format!("invalid payload: {e}"))
}

impl Actor for TabActor {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.supervisor.started.do_send(TabStarted {
            conn: self.conn,
            addr: ctx.address(),
        });
        // Liveness: a connection silent for the client timeout is closed;
        // the pings in between keep a quiet but live client's pongs coming.
        ctx.run_interval(self.config.ping_interval(), |act, ctx| {
            if act.last_seen.elapsed() > act.config.client_timeout {
                tracing::info!(tab = %act.tab, "client timeout; closing");
                act.close(CloseCode::ClientTimeout, ctx);
            } else {
                act.out.ping();
            }
        });
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        // Whatever a join registered, the connection's end unregisters
        // (ARCHITECTURE invariant 9).
        for (_, join) in std::mem::take(&mut self.joins) {
            self.leave_session(&join);
        }
        self.supervisor.gone.do_send(TabGone { conn: self.conn });
        Running::Stop
    }
}

impl StreamHandler<Result<Message, ProtocolError>> for TabActor {
    fn handle(&mut self, item: Result<Message, ProtocolError>, ctx: &mut Self::Context) {
        if self.closed {
            return;
        }
        let msg = match item {
            Ok(msg) => msg,
            Err(ProtocolError::Overflow) => return self.close(CloseCode::TooLarge, ctx),
            Err(ProtocolError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                return self.close(CloseCode::MalformedFrame, ctx)
            }
            Err(e) => {
                tracing::debug!(tab = %self.tab, error = %e, "websocket protocol error");
                return self.close(CloseCode::ProtocolError, ctx);
            }
        };
        self.last_seen = Instant::now();
        match msg {
            Message::Text(text) if self.fragments.is_none() => self.on_text(&text, ctx),
            Message::Text(_) => self.close(CloseCode::ProtocolError, ctx),
            Message::Binary(_) => self.close(CloseCode::BinaryFrame, ctx),
            Message::Continuation(item) => self.on_continuation(item, ctx),
            Message::Ping(payload) => self.out.pong(payload),
            Message::Pong(_) | Message::Nop => {}
            Message::Close(_) => self.close(CloseCode::Normal, ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Deliver> for TabActor {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Self::Context) {
        let Some(join) = self.joins.get_mut(&msg.topic) else {
            return;
        };
        if join.join_ref != msg.join_ref {
            return;
        }
        let join_ref = join.join_ref.clone();
        let r = Some(&*join_ref);
        match msg.item {
            Outgoing::Joined {
                reply_ref,
                link,
                response,
            } => {
                join.session = Some(link);
                self.reply(r, reply_ref.as_deref(), &msg.topic, &response, ctx);
            }
            Outgoing::Refused {
                reply_ref,
                response,
            } => {
                if let Some(join) = self.joins.remove(&msg.topic) {
                    // A refused rejoin must also end the old membership.
                    self.leave_session(&join);
                }
                self.reply(r, reply_ref.as_deref(), &msg.topic, &response, ctx);
            }
            Outgoing::Reply {
                reply_ref,
                response,
            } => {
                if join.session.is_some() {
                    self.reply(r, reply_ref.as_deref(), &msg.topic, &response, ctx);
                }
            }
            Outgoing::Push { event, payload } => {
                if join.session.is_none() {
                    return;
                }
                if self.out.has_room(payload.get().len()) {
                    self.write(r, None, &msg.topic, event, payload.get(), ctx);
                } else {
                    self.error_join(&msg.topic, ctx);
                }
            }
        }
    }
}

impl Handler<CloseConnection> for TabActor {
    type Result = ();

    fn handle(&mut self, msg: CloseConnection, ctx: &mut Self::Context) {
        tracing::info!(tab = %self.tab, code = msg.code.code(), "connection closed by the server");
        self.close(msg.code, ctx);
    }
}
