//! [`TabActor`]: one per WebSocket connection. It owns the socket: decodes
//! frames, answers heartbeats, keeps the connection's joins (topic -> session
//! link + join_ref), forwards pushes to sessions, and writes what sessions
//! deliver, in order, through a bounded outbound buffer. It knows nothing
//! of any session's state.
//!
//! - `mod.rs`: the actor, its lifecycle, writing replies and closes.
//! - `inbound.rs`: what the client sends: socket messages, then frames:
//!   dispatch, leaves, pushes.
//! - `join.rs`: joins: checks, the app's authorize (off every actor
//!   thread), then the join goes to the supervisor.
//! - `deliver.rs`: what sessions deliver (its inbox), written out; overflow
//!   of a join.
//! - `outbound.rs`: the bounded buffer and the socket writer.
//! - `rate.rs`: the token buckets of a connection (events, joins).
//! - `per_ip.rs`: open connections per address, and the slot each holds.
//! - `client_ip.rs`: that address: the peer's, or behind a trusted proxy
//!   (`--trusted-proxy`) the client's.
//!
//! Each connection logs inside its own span, `conn{conn=7 tab=...}`,
//! entered in its handlers (not on the fan-out path of `Drain`, except
//! where it logs), and counts what it refuses, writes and drops in the
//! hub's metrics.
//!
//! What it receives is defined in `crate::messages` (`to_tab.rs`).

mod inbound;
mod join;

pub(crate) use client_ip::client_ip;
pub(crate) use join::{JoinToAuthorize, Verdict};
pub(crate) use per_ip::{ConnsPerIp, IpSlot};
mod client_ip;
mod deliver;
mod outbound;
mod per_ip;
mod rate;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::{Actor, ActorContext, AsyncContext, Handler, Running};
use actix_web::web::BytesMut;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::app::{ConnectRefusal, Unfinished};
use crate::config::Config;
use crate::ids::{ConnId, SessionKey, TabId};
use crate::messages::{
    ActivityClock, ActivityStamp, CloseConnection, Identity, InboxReader, Leave, SessionLink,
    SupervisorLink, TabAddr, TabGone, TabInbox, TabStarted,
};
use crate::metrics::Metrics;
use crate::protocol::close::CloseCode;
use crate::protocol::event;
use crate::protocol::frame::{self, Frame};
use crate::protocol::message::{Cursor, JoinMode, Visibility};
use crate::protocol::reply::{error_reply, ErrorResponse};
use crate::protocol::Reason;

use outbound::Outbound;
use rate::TokenBucket;

/// The app's connect hook, as the socket route calls it before the
/// upgrade: the request goes in, the connection's identity (or a refusal,
/// or why there is no answer) comes out.
pub(crate) type Connect = Arc<
    dyn Fn(
            actix_web::HttpRequest,
        )
            -> Pin<Box<dyn Future<Output = Result<Result<Identity, ConnectRefusal>, Unfinished>>>>
        + Send
        + Sync,
>;

/// The app's authorize hook, as tabs call it (they are not generic over
/// the app): the join goes in, its verdict and the join come out. The
/// future runs on the connection's thread and may await.
pub(crate) type Authorize = Arc<
    dyn Fn(JoinToAuthorize) -> Pin<Box<dyn Future<Output = (Verdict, JoinToAuthorize)>>>
        + Send
        + Sync,
>;

/// One join of this connection.
struct JoinState {
    key: SessionKey,
    join_ref: Arc<str>,
    mode: JoinMode,
    /// Whether the join's ok reply was written; until then nothing else of
    /// the join is.
    joined: bool,
    /// Where a full join pushes events (`None` for summary joins).
    session: Option<SessionLink>,
    /// When this tab was last active in the session (joined or submitted
    /// an event). Read by the supervisor's election.
    activity: ActivityStamp,
    /// Until the app's authorize let the join in (or refused it): what
    /// the join still needs. `None` once it went to the supervisor.
    undecided: Option<Undecided>,
}

/// What a join waiting for authorize keeps of its frame.
struct Undecided {
    /// The join frame's `ref`, for the reply.
    reply_ref: Option<String>,
    cursor: Option<Cursor>,
    visibility: Visibility,
    /// The app join params the verdict must be about.
    params: Map<String, Value>,
}

/// What the service shares with every connection.
pub(crate) struct TabShared {
    pub(crate) config: Arc<Config>,
    pub(crate) supervisor: SupervisorLink,
    /// Service-wide activity clock, for the election.
    pub(crate) clock: ActivityClock,
    /// Source of connection ids: only grows, so a larger id is a newer
    /// connection (takeovers are fenced by it).
    pub(crate) next_conn: Arc<AtomicU64>,
    /// The app's authorize hook.
    pub(crate) authorize: Authorize,
    /// The app's connect hook.
    pub(crate) connect: Connect,
    /// Open connections per peer address (`Config::max_conns_per_ip`).
    pub(crate) conns_per_ip: ConnsPerIp,
    /// The hub's metrics.
    pub(crate) metrics: Arc<Metrics>,
}

/// The actor of one WebSocket connection. See the module docs.
pub(crate) struct TabActor {
    conn: ConnId,
    tab: TabId,
    config: Arc<Config>,
    supervisor: SupervisorLink,
    clock: ActivityClock,
    authorize: Authorize,
    /// Who this connection is ([`crate::App::connect`]).
    identity: Identity,
    connect_params: Arc<BTreeMap<String, String>>,
    joins: HashMap<Arc<str>, JoinState>,
    /// Where sessions and the supervisor deliver to this connection, and
    /// the end that takes their deliveries (`deliver.rs`).
    inbox: TabInbox,
    reader: InboxReader,
    out: Outbound,
    /// When the last frame arrived. Tokio time, so the client timeout runs
    /// on the same clock as the ping interval (and on paused time in tests).
    last_seen: Instant,
    /// The bucket of event and visibility pushes (`--rate-events-per-sec`).
    bucket: TokenBucket,
    /// Joins' bucket (`--join-rate-per-sec`): each join frame that passes
    /// the frame's checks takes a token.
    join_bucket: TokenBucket,
    /// Topics whose authorize call is in flight (at most one each).
    authorizing: HashSet<Arc<str>>,
    /// A fragmented text message being collected.
    fragments: Option<BytesMut>,
    closed: bool,
    /// Armed when the outbound buffer overflowed: cuts the connection if
    /// the socket takes no write within the slow-client timeout.
    stall_watch: Option<actix::SpawnHandle>,
    /// This connection's place among its peer address's open connections;
    /// given back when the connection stops (or, if it never started, when
    /// the actor is dropped).
    ip_slot: Option<IpSlot>,
    metrics: Arc<Metrics>,
    /// `conn{conn, tab}`: what this connection logs is logged inside it.
    span: tracing::Span,
}

impl TabActor {
    pub(crate) fn new(
        shared: &TabShared,
        tab: TabId,
        identity: Identity,
        connect_params: BTreeMap<String, String>,
        session: actix_ws::Session,
        ctx: &mut actix::Context<Self>,
    ) -> Self {
        let config = shared.config.clone();
        let (inbox, reader) = TabInbox::new(ctx.address().recipient());
        let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
        Self {
            span: tracing::info_span!("conn", conn = conn.0, tab = %tab),
            metrics: shared.metrics.clone(),
            conn,
            tab,
            supervisor: shared.supervisor.clone(),
            clock: shared.clock.clone(),
            authorize: shared.authorize.clone(),
            identity,
            connect_params: Arc::new(connect_params),
            joins: HashMap::new(),
            inbox,
            reader,
            out: Outbound::start(
                session,
                config.outbound_max_messages,
                config.outbound_max_bytes,
                config.slow_client_timeout,
            ),
            last_seen: Instant::now(),
            bucket: TokenBucket::new(
                config.rate_events_per_sec,
                config.rate_burst,
                std::time::Instant::now(),
            ),
            join_bucket: TokenBucket::new(
                config.join_rate_per_sec,
                config.join_burst,
                std::time::Instant::now(),
            ),
            authorizing: HashSet::new(),
            fragments: None,
            closed: false,
            stall_watch: None,
            ip_slot: None,
            config,
        }
    }

    /// The connection holds `slot` until it ends.
    pub(crate) fn holding(mut self, slot: Option<IpSlot>) -> Self {
        self.ip_slot = slot;
        self
    }

    /// Closes the connection with `code` after what is already queued.
    fn close(&mut self, code: CloseCode, ctx: &mut actix::Context<Self>) {
        if !self.closed {
            self.closed = true;
            tracing::debug!(tab = %self.tab, code = code.code(), "closing connection");
            self.metrics.closed(code.code());
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
        reason: Reason,
        message: &str,
        ctx: &mut actix::Context<Self>,
    ) {
        self.metrics.refused(reason);
        if frame.event == event::EVENT {
            self.metrics.event(false);
        }
        let response = error_reply(&ErrorResponse::new(reason, message));
        self.reply(
            frame.join_ref.as_deref(),
            frame.reference.as_deref(),
            &frame.topic,
            &response,
            ctx,
        );
    }

    /// How sessions and the supervisor reach this connection.
    fn addr(&self, ctx: &mut actix::Context<Self>) -> TabAddr {
        TabAddr {
            deliver: self.inbox.clone(),
            close: ctx.address().recipient(),
        }
    }

    fn leave_session(&self, join: &JoinState) {
        self.supervisor.leave.do_send(Leave {
            key: join.key.clone(),
            tab: self.tab.clone(),
            conn: self.conn,
        });
    }
}

impl Actor for TabActor {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _span = self.span.clone().entered();
        self.supervisor.started.do_send(TabStarted {
            conn: self.conn,
            close: ctx.address().recipient(),
        });
        // Liveness: a connection silent for the client timeout is closed;
        // the pings in between keep a quiet but live client's pongs coming.
        ctx.run_interval(self.config.ping_interval(), |act, ctx| {
            if act.last_seen.elapsed() > act.config.client_timeout {
                let _span = act.span.clone().entered();
                tracing::info!(tab = %act.tab, "client timeout; closing");
                act.close(CloseCode::ClientTimeout, ctx);
            } else {
                act.out.ping();
            }
        });
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        let _span = self.span.clone().entered();
        // Whatever a join registered, the connection's end unregisters
        // (docs/architecture.md invariant 9).
        for (_, join) in std::mem::take(&mut self.joins) {
            self.leave_session(&join);
        }
        // Before `TabGone`: once the supervisor counts the connection gone,
        // its address has the slot back.
        self.ip_slot = None;
        self.supervisor.gone.do_send(TabGone { conn: self.conn });
        Running::Stop
    }
}

impl Handler<CloseConnection> for TabActor {
    type Result = ();

    fn handle(&mut self, msg: CloseConnection, ctx: &mut Self::Context) {
        let _span = self.span.clone().entered();
        tracing::info!(tab = %self.tab, code = msg.code.code(), "connection closed by the server");
        self.close(msg.code, ctx);
    }
}
