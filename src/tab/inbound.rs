//! What the client sends: WebSocket messages (text, fragments, pings,
//! close), then frames: decoding, heartbeats, leaves and pushes; docs/protocol.md sections 3 (frames),
//! 4 (heartbeat and liveness) and 6 (client pushes).
//! Joins are in `join.rs`.

use std::sync::Arc;
use std::time::Instant;

use actix::{ActorContext, StreamHandler};
use actix_web::web::BytesMut;
use actix_ws::{Item, Message, ProtocolError};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::TabActor;
use crate::messages::{Cancel, SetVisibility, Submit};
use crate::protocol::close::CloseCode;
use crate::protocol::frame::{self, Frame, FrameError};
use crate::protocol::message::{CancelPayload, EventPayload, JoinMode, VisibilityPayload};
use crate::protocol::reply::{error_reply, ok_reply, Empty, ErrorResponse};
use crate::protocol::{event, Reason, PHOENIX_TOPIC};

impl TabActor {
    /// Takes a token from the connection's bucket of event and visibility
    /// pushes; without one, answers `frame` with `rate_limited` and
    /// returns false.
    fn take_token(&mut self, frame: &Frame, ctx: &mut actix::Context<Self>) -> bool {
        if self.bucket.take(Instant::now()) {
            return true;
        }
        let why = "too many pushes from this tab; retry later";
        self.reply_error(frame, Reason::RateLimited, why, ctx);
        false
    }

    /// Handles one complete text message.
    pub(super) fn on_text(&mut self, text: &str, ctx: &mut actix::Context<Self>) {
        let frame = match frame::decode_bounded(text, self.config.max_json_depth) {
            Ok(frame) => frame,
            Err(FrameError::Malformed(e)) => {
                tracing::debug!(tab = %self.tab, error = %e, "malformed frame");
                return self.close(CloseCode::MalformedFrame, ctx);
            }
            Err(FrameError::Refused(r)) => {
                self.metrics.refused(Reason::InvalidPayload);
                let response = error_reply(&ErrorResponse::new(Reason::InvalidPayload, &r.message));
                let join_ref = r.join_ref.as_deref();
                return self.reply(join_ref, r.reference.as_deref(), &r.topic, &response, ctx);
            }
        };
        match (frame.topic.as_str(), frame.event.as_str()) {
            (PHOENIX_TOPIC, event::HEARTBEAT) => {
                let ok = ok_reply(&Empty {});
                self.reply(None, frame.reference.as_deref(), PHOENIX_TOPIC, &ok, ctx);
            }
            (_, event::JOIN) => self.on_join(frame, ctx),
            (_, event::LEAVE) => self.on_leave(frame, ctx),
            _ => self.on_push(frame, ctx),
        }
    }

    fn on_leave(&mut self, frame: Frame, ctx: &mut actix::Context<Self>) {
        match self.joins.remove(frame.topic.as_str()) {
            Some(join) => {
                self.leave_session(&join);
                let ok = ok_reply(&Empty {});
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
                Reason::UnmatchedTopic,
                "this topic is not joined",
                ctx,
            ),
        }
    }

    fn on_push(&mut self, mut frame: Frame, ctx: &mut actix::Context<Self>) {
        let join = self
            .joins
            .get(frame.topic.as_str())
            .filter(|j| j.joined && frame.join_ref.as_deref().is_none_or(|r| r == &*j.join_ref));
        if join.is_some_and(|j| j.mode == JoinMode::Summary) {
            return self.reply_error(
                &frame,
                Reason::SummaryOnly,
                "a summary join only receives summaries; join in full mode to push",
                ctx,
            );
        }
        let joined = join.and_then(|j| {
            j.session
                .clone()
                .map(|link| (j.key.clone(), j.join_ref.clone(), j.activity.clone(), link))
        });
        let Some((key, join_ref, activity, link)) = joined else {
            return self.reply_error(
                &frame,
                Reason::UnmatchedTopic,
                "this topic is not joined",
                ctx,
            );
        };
        match frame.event.as_str() {
            event::EVENT => {
                let ev: EventPayload = match decode_payload(&mut frame.payload) {
                    Ok(ev) => ev,
                    Err(e) => return self.reply_error(&frame, Reason::InvalidPayload, &e, ctx),
                };
                let names = [
                    ("id", Some(ev.id.as_str())),
                    ("name", Some(ev.name.as_str())),
                    ("chain", ev.chain.as_ref().map(|c| c.as_str())),
                ];
                if let Some(e) = self.over_long(&names) {
                    return self.reply_error(&frame, Reason::InvalidPayload, &e, ctx);
                }
                if !self.take_token(&frame, ctx) {
                    return;
                }
                if !link.queue.try_submit(self.config.queue_len) {
                    return self.reply_error(
                        &frame,
                        Reason::QueueFull,
                        "the session's queue is full; retry later",
                        ctx,
                    );
                }
                if !link.submit.connected() {
                    link.queue.unsubmit();
                    let topic: Arc<str> = Arc::from(frame.topic.as_str());
                    return self.error_join(&topic, ctx);
                }
                activity.touch();
                link.submit.do_send(Submit {
                    key,
                    tab: self.tab.clone(),
                    conn: self.conn,
                    identity: self.identity.clone(),
                    join_ref,
                    reply_to: self.inbox.clone(),
                    reply_ref: frame.reference,
                    event: ev,
                });
            }
            event::VISIBILITY => {
                let v: VisibilityPayload = match decode_payload(&mut frame.payload) {
                    Ok(v) => v,
                    Err(e) => return self.reply_error(&frame, Reason::InvalidPayload, &e, ctx),
                };
                // A toggle can be a delta to every tab (presence) and reruns
                // the election, so it draws on the same bucket as events.
                if !self.take_token(&frame, ctx) {
                    return;
                }
                self.supervisor.visibility.do_send(SetVisibility {
                    key,
                    tab: self.tab.clone(),
                    conn: self.conn,
                    visibility: v.visibility,
                });
                let ok = ok_reply(&Empty {});
                self.reply(
                    Some(&join_ref),
                    frame.reference.as_deref(),
                    &frame.topic,
                    &ok,
                    ctx,
                );
            }
            event::CANCEL => {
                let c: CancelPayload = match decode_payload(&mut frame.payload) {
                    Ok(c) => c,
                    Err(e) => return self.reply_error(&frame, Reason::InvalidPayload, &e, ctx),
                };
                if let Some(e) = self.over_long(&[("task", Some(c.task.as_str()))]) {
                    return self.reply_error(&frame, Reason::InvalidPayload, &e, ctx);
                }
                link.cancel.do_send(Cancel {
                    key,
                    tab: self.tab.clone(),
                    conn: self.conn,
                    join_ref,
                    reply_to: self.inbox.clone(),
                    reply_ref: frame.reference,
                    task: c.task,
                });
            }
            other => {
                let msg = format!("unknown event {other:?} on a session topic");
                self.reply_error(&frame, Reason::UnknownEvent, &msg, ctx);
            }
        }
    }

    /// Which of `values` (a payload's ids and names, which sessions keep)
    /// is longer than `--max-name-bytes`, said for the error reply.
    fn over_long(&self, values: &[(&str, Option<&str>)]) -> Option<String> {
        let max = self.config.max_name_bytes;
        values.iter().find_map(|(what, value)| {
            value.filter(|v| v.len() > max).map(|v| {
                format!(
                    "{what} is {} bytes long; at most {max} are accepted",
                    v.len()
                )
            })
        })
    }

    /// Collects a fragmented text message (at most `max_frame_bytes` in all).
    pub(super) fn on_continuation(&mut self, item: Item, ctx: &mut actix::Context<Self>) {
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

impl StreamHandler<Result<Message, ProtocolError>> for TabActor {
    fn handle(&mut self, item: Result<Message, ProtocolError>, ctx: &mut Self::Context) {
        if self.closed {
            return;
        }
        let _span = self.span.clone().entered();
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
        self.last_seen = tokio::time::Instant::now();
        match msg {
            Message::Text(text) if self.fragments.is_none() => self.on_text(&text, ctx),
            Message::Text(_) => self.close(CloseCode::ProtocolError, ctx),
            Message::Binary(_) => self.close(CloseCode::BinaryFrame, ctx),
            Message::Continuation(item) => self.on_continuation(item, ctx),
            Message::Ping(payload) => {
                // Pongs fill the same bound as everything else: a client
                // that pings and never reads is closed, not buffered for.
                if self.out.hopeless() {
                    tracing::warn!(tab = %self.tab, "outbound buffer far over its limit (pongs); closing");
                    return self.close(CloseCode::Overloaded, ctx);
                }
                self.out.pong(payload);
            }
            Message::Pong(_) | Message::Nop => {}
            Message::Close(_) => self.close(CloseCode::Normal, ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Decodes a frame payload into one of the protocol's payload types, with a
/// message that says what was wrong. The payload is moved out of the frame
/// (its strings move into `T`, none is copied); the frame keeps an empty
/// object.
pub(super) fn decode_payload<T: DeserializeOwned>(
    payload: &mut Map<String, Value>,
) -> Result<T, String> {
    T::deserialize(Value::Object(std::mem::take(payload)))
        .map_err(|e| format!("invalid payload: {e}"))
}
