//! Joins (docs/protocol.md section 5 (joins)), on the tab's side: the
//! checks that need nothing but the frame, the connection's join bucket
//! (`--join-rate-per-sec`), then the app's authorize hook, awaited beside
//! this connection's other frames (so a slow authorize holds up only the
//! join it decides, never the supervisor or other joins), then the join
//! goes to the supervisor.
//!
//! At most one authorize per topic is in flight. A rejoin while one
//! decides replaces the join but starts no call: the newest join of the
//! topic takes the verdict when it comes, or, if it asked with other app
//! params, one more call is made for it once the first is done. A client
//! re-joining in a loop so costs the app one call at a time, not one per
//! frame.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::{ActorFutureExt, AsyncContext, WrapFuture};
use serde_json::{Map, Value};

use super::inbound::decode_payload;
use super::{JoinState, TabActor, Undecided};
use crate::app::AuthorizeError;
use crate::ids::{SessionKey, TabId};
use crate::messages::{Identity, Join};
use crate::protocol::frame::Frame;
use crate::protocol::message::{JoinMode, JoinPayload};
use crate::protocol::{Reason, SESSION_TOPIC_PREFIX};

/// What authorize sees of a join, owned, so its future needs no borrow of
/// the tab.
pub(crate) struct JoinToAuthorize {
    pub(crate) identity: Identity,
    pub(crate) key: SessionKey,
    pub(crate) tab: TabId,
    pub(crate) params: Map<String, Value>,
    pub(crate) connect_params: Arc<BTreeMap<String, String>>,
}

/// What became of an authorize call: the app's answer, or why it gave
/// none (it panicked or ran past the handler timeout: `unavailable`).
pub(crate) type Verdict = Result<Result<(), AuthorizeError>, crate::app::Unfinished>;

impl TabActor {
    pub(super) fn on_join(&mut self, mut frame: Frame, ctx: &mut actix::Context<Self>) {
        let Some(key) = frame.topic.strip_prefix(SESSION_TOPIC_PREFIX) else {
            return self.reply_error(
                &frame,
                Reason::UnmatchedTopic,
                "topics are session:<KEY>",
                ctx,
            );
        };
        let key = match SessionKey::parse(key) {
            Ok(key) => key,
            Err(e) => return self.reply_error(&frame, Reason::InvalidKey, &e.to_string(), ctx),
        };
        let payload: JoinPayload = match decode_payload(&mut frame.payload) {
            Ok(p) => p,
            Err(e) => return self.reply_error(&frame, Reason::InvalidPayload, &e, ctx),
        };
        let params_bytes = serde_json::to_string(&payload.params).map_or(usize::MAX, |s| s.len());
        if params_bytes > self.config.max_join_params_bytes {
            let msg = format!(
                "the join's params take {params_bytes} bytes as JSON; at most {} are kept",
                self.config.max_join_params_bytes
            );
            return self.reply_error(&frame, Reason::InvalidPayload, &msg, ctx);
        }
        let topic: Arc<str> = Arc::from(frame.topic.as_str());
        if !self.joins.contains_key(&topic)
            && self.joins.len() >= self.config.max_joins_per_connection
        {
            let msg = format!(
                "at most {} joins per connection",
                self.config.max_joins_per_connection
            );
            return self.reply_error(&frame, Reason::TooManyJoins, &msg, ctx);
        }
        // Before anything changes: a join over the rate leaves the earlier
        // join of the topic as it was.
        if !self.join_bucket.take(std::time::Instant::now()) {
            let msg = format!(
                "too many joins on this connection (at most {} a second, {} at once); retry later",
                self.config.join_rate_per_sec, self.config.join_burst
            );
            return self.reply_error(&frame, Reason::RateLimited, &msg, ctx);
        }
        // phoenix.js sends join_ref == ref on joins; accept either alone.
        let join_ref: Arc<str> = Arc::from(
            frame
                .join_ref
                .as_deref()
                .or(frame.reference.as_deref())
                .unwrap_or(""),
        );
        // A join to a joined topic replaces the old join (Phoenix semantics):
        // deliveries for the old join_ref are dropped from now on. A full
        // rejoin keeps the tab registered (no leave, no re-election); a
        // switch of mode, or a summary rejoin, ends the old join first.
        let replaced = self.joins.insert(
            topic.clone(),
            JoinState {
                key,
                join_ref,
                mode: payload.mode,
                joined: false,
                session: None,
                activity: self.clock.stamp(),
                undecided: Some(Undecided {
                    reply_ref: frame.reference,
                    cursor: payload.cursor,
                    visibility: payload.visibility,
                    params: payload.params,
                }),
            },
        );
        if let Some(old) = replaced
            .filter(|old| old.mode == JoinMode::Summary || payload.mode == JoinMode::Summary)
        {
            self.leave_session(&old);
        }
        // One call per topic at a time: the call in flight decides this
        // join too (see the module docs).
        if !self.authorizing.contains(&topic) {
            self.authorize_newest(topic, ctx);
        }
    }

    /// Asks the app about the newest join of `topic`, if it still waits
    /// for a verdict; `topic` counts as authorizing until the answer.
    fn authorize_newest(&mut self, topic: Arc<str>, ctx: &mut actix::Context<Self>) {
        let Some((key, params)) = self
            .joins
            .get(&topic)
            .and_then(|j| Some((j.key.clone(), j.undecided.as_ref()?.params.clone())))
        else {
            return;
        };
        // The join's own span (its trace, with `otel`), under the
        // connection's in the logs: the authorize (the backend's
        // `URL/join`) and the hand-over to the supervisor.
        let span = tracing::info_span!(parent: &self.span, "join", key = %key);
        #[cfg(feature = "otel")]
        crate::otel::new_trace(&span, &self.span, &[("tab", &self.tab)]);
        let input = JoinToAuthorize {
            identity: self.identity.clone(),
            key,
            tab: self.tab.clone(),
            params,
            connect_params: self.connect_params.clone(),
        };
        self.authorizing.insert(topic.clone());
        let deciding = tracing::Instrument::instrument((self.authorize)(input), span.clone());
        ctx.spawn(
            deciding
                .into_actor(self)
                .map(move |(verdict, input), act, ctx| {
                    act.authorizing.remove(&topic);
                    if !act.closed {
                        let _span = span.entered();
                        act.decided(topic, verdict, input, ctx);
                    }
                }),
        );
    }

    /// Applies a verdict to the newest join of `topic`, if it is the join
    /// the app was asked about (same app params); a newer join with other
    /// params is asked about now. A join left meanwhile needs nothing.
    fn decided(
        &mut self,
        topic: Arc<str>,
        verdict: Verdict,
        input: JoinToAuthorize,
        ctx: &mut actix::Context<Self>,
    ) {
        let Some(join) = self.joins.get_mut(&topic) else {
            return;
        };
        match &join.undecided {
            None => return,
            Some(newest) if newest.params != input.params => {
                return self.authorize_newest(topic, ctx);
            }
            Some(_) => {}
        }
        let Some(undecided) = join.undecided.take() else {
            return;
        };
        let reason = match verdict {
            Ok(Ok(())) => None,
            Ok(Err(why)) => {
                let reason = why.reason();
                tracing::info!(key = %input.key, tab = %self.tab, why = why.message(), %reason, "join refused");
                Some(reason)
            }
            // A panic or a timeout decided nothing: the join may be let in
            // once the app answers again, so the client retries.
            Err(unfinished) => {
                tracing::error!(key = %input.key, tab = %self.tab, ?unfinished, "authorize gave no answer; join refused: unavailable");
                Some(Reason::Unavailable)
            }
        };
        if let Some(reason) = reason {
            return self.refuse_join(&topic, undecided.reply_ref, reason, ctx);
        }
        let (join_ref, mode, activity) = (join.join_ref.clone(), join.mode, join.activity.clone());
        let tab_addr = self.addr(ctx);
        self.supervisor.join.do_send(Join {
            key: input.key,
            tab: input.tab,
            conn: self.conn,
            identity: input.identity,
            tab_addr,
            join_ref,
            reply_ref: undecided.reply_ref,
            mode,
            cursor: undecided.cursor,
            visibility: undecided.visibility,
            activity,
        });
    }

    /// Refuses a join the app did not authorize (`unauthorized`) or could
    /// not decide (`unavailable`): it ends, and a rejoin refused this way
    /// also ends the membership the earlier join had.
    fn refuse_join(
        &mut self,
        topic: &Arc<str>,
        reply_ref: Option<String>,
        reason: Reason,
        ctx: &mut actix::Context<Self>,
    ) {
        let Some(join) = self.joins.remove(topic) else {
            return;
        };
        self.leave_session(&join);
        self.metrics.refused(reason);
        let message = if reason == Reason::Unauthorized {
            "this join is not authorized"
        } else {
            "the app could not decide on this join now; retry later"
        };
        let response = crate::protocol::reply::error_reply(
            &crate::protocol::reply::ErrorResponse::new(reason, message),
        );
        let r = Some(&*join.join_ref);
        self.reply(r, reply_ref.as_deref(), topic, &response, ctx);
    }
}
