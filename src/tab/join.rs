//! Joins (PROTOCOL sections 3 and 3a), on the tab's side: the checks that
//! need nothing but the frame, then the app's authorize hook, awaited
//! beside this connection's other frames (so a slow authorize holds up
//! only the join it decides, never the supervisor or other joins), then
//! the join goes to the supervisor.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::{ActorFutureExt, AsyncContext, WrapFuture};
use serde_json::{Map, Value};

use super::inbound::decode_payload;
use super::{JoinState, TabActor};
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
/// none (it panicked or ran past the handler timeout: refused).
pub(crate) type Verdict = Result<Result<(), String>, crate::app::Unfinished>;

impl TabActor {
    pub(super) fn on_join(&mut self, frame: Frame, ctx: &mut actix::Context<Self>) {
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
        let payload: JoinPayload = match decode_payload(&frame.payload) {
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
        // phoenix.js sends join_ref == ref on joins; accept either alone.
        let join_ref: Arc<str> = Arc::from(
            frame
                .join_ref
                .as_deref()
                .or(frame.reference.as_deref())
                .unwrap_or(""),
        );
        let activity = self.clock.stamp();
        // A join to a joined topic replaces the old join (Phoenix semantics):
        // deliveries for the old join_ref are dropped from now on. A full
        // rejoin keeps the tab registered (no leave, no re-election); a
        // switch of mode, or a summary rejoin, ends the old join first.
        let replaced = self.joins.insert(
            topic.clone(),
            JoinState {
                key: key.clone(),
                join_ref: join_ref.clone(),
                mode: payload.mode,
                joined: false,
                session: None,
                activity: activity.clone(),
            },
        );
        if let Some(old) = replaced
            .filter(|old| old.mode == JoinMode::Summary || payload.mode == JoinMode::Summary)
        {
            self.leave_session(&old);
        }
        let input = JoinToAuthorize {
            identity: self.identity.clone(),
            key: key.clone(),
            tab: self.tab.clone(),
            params: payload.params,
            connect_params: self.connect_params.clone(),
        };
        let deciding = (self.authorize)(input);
        let reply_ref = frame.reference;
        let (mode, cursor, visibility) = (payload.mode, payload.cursor, payload.visibility);
        ctx.spawn(deciding.into_actor(self).map(move |decided, act, ctx| {
            // The join may have been left or replaced meanwhile: then its
            // verdict no longer matters.
            let current = act
                .joins
                .get(&topic)
                .is_some_and(|j| j.join_ref == join_ref);
            if !current || act.closed {
                return;
            }
            let _span = act.span.clone().entered();
            let (verdict, input) = decided;
            match verdict {
                Ok(Ok(())) => {}
                Ok(Err(why)) => {
                    tracing::info!(key = %input.key, tab = %act.tab, why, "join refused: unauthorized");
                    return act.refuse_join(&topic, reply_ref, ctx);
                }
                Err(unfinished) => {
                    tracing::error!(key = %input.key, tab = %act.tab, ?unfinished, "authorize gave no answer; join refused");
                    return act.refuse_join(&topic, reply_ref, ctx);
                }
            }
            let tab_addr = act.addr(ctx);
            act.supervisor.join.do_send(Join {
                key: input.key,
                tab: input.tab,
                conn: act.conn,
                identity: input.identity,
                tab_addr,
                join_ref,
                reply_ref,
                mode,
                cursor,
                visibility,
                activity,
            });
        }));
    }

    /// Refuses a join the app did not authorize: it ends, and a rejoin
    /// refused this way also ends the membership the earlier join had.
    fn refuse_join(
        &mut self,
        topic: &Arc<str>,
        reply_ref: Option<String>,
        ctx: &mut actix::Context<Self>,
    ) {
        let Some(join) = self.joins.remove(topic) else {
            return;
        };
        self.leave_session(&join);
        self.metrics.refused(Reason::Unauthorized);
        let response =
            crate::protocol::reply::error_reply(&crate::protocol::reply::ErrorResponse::new(
                Reason::Unauthorized,
                "this join is not authorized",
            ));
        let r = Some(&*join.join_ref);
        self.reply(r, reply_ref.as_deref(), topic, &response, ctx);
    }
}
