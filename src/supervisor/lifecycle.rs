//! A session's end of life as the supervisor runs it: the grace timer, the
//! save-and-stop handshake with the session, and the service's shutdown.

use actix::{
    ActorFutureExt, AsyncContext, Context, Handler, MailboxError, ResponseActFuture, WrapFuture,
};

use super::{Shutdown, Supervisor};
use crate::app::App;
use crate::ids::SessionKey;
use crate::protocol::close::CloseCode;
use crate::session::{SessionIdle, Stop, StopOutcome};
use crate::tab::CloseConnection;

impl<A: App> Supervisor<A> {
    /// Starts the grace timer of a session with no tabs (once).
    pub(super) fn start_grace(&mut self, key: &SessionKey, ctx: &mut Context<Self>) {
        let grace = self.config.grace;
        if let Some(entry) = self.sessions.get_mut(key) {
            if entry.tabs.is_empty() && entry.grace.is_none() && entry.stopping.is_none() {
                let key = key.clone();
                entry.grace =
                    Some(ctx.run_later(grace, move |act, ctx| act.grace_expired(key, ctx)));
            }
        }
    }

    fn grace_expired(&mut self, key: SessionKey, ctx: &mut Context<Self>) {
        let Some(entry) = self.sessions.get_mut(&key) else {
            return;
        };
        entry.grace = None;
        if !entry.tabs.is_empty() || entry.stopping.is_some() {
            return;
        }
        entry.stopping = Some(Vec::new());
        let stop = entry.addr.send(Stop { force: false });
        ctx.spawn(
            stop.into_actor(self)
                .map(move |result, act, ctx| act.stop_answered(key, result, ctx)),
        );
    }

    fn stop_answered(
        &mut self,
        key: SessionKey,
        result: Result<StopOutcome, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        let Some(entry) = self.sessions.get_mut(&key) else {
            return;
        };
        let parked = entry.stopping.take().unwrap_or_default();
        match result {
            Ok(StopOutcome::Stopped) | Err(_) => {
                self.sessions.remove(&key);
            }
            // Busy (a task runs or events are still queued) or the save
            // failed: try again after another grace time. A task's end
            // (SessionIdle) also re-arms it; arming is idempotent.
            Ok(StopOutcome::Busy | StopOutcome::SaveFailed) => self.start_grace(&key, ctx),
        }
        for join in parked {
            self.join(join, ctx);
        }
    }
}

impl<A: App> Handler<SessionIdle> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: SessionIdle, ctx: &mut Self::Context) {
        self.start_grace(&msg.key, ctx);
    }
}

impl<A: App> Handler<Shutdown> for Supervisor<A> {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) -> Self::Result {
        self.shutting_down = true;
        tracing::info!(
            connections = self.conns.len(),
            sessions = self.sessions.len(),
            "shutting down"
        );
        for (_, conn) in self.conns.drain() {
            conn.do_send(CloseConnection {
                code: CloseCode::ServiceRestart,
            });
        }
        let total = self.sessions.len();
        let mut stops = Vec::with_capacity(total);
        for (_, entry) in self.sessions.drain() {
            if let Some(grace) = entry.grace {
                ctx.cancel_future(grace);
            }
            stops.push(entry.addr.send(Stop { force: true }));
        }
        // Every Stop is already in its session's mailbox (`send` enqueues at
        // once), so awaiting the answers in turn still saves in parallel.
        let all_saved = async move {
            let mut failed = 0;
            for stop in stops {
                if !matches!(stop.await, Ok(StopOutcome::Stopped)) {
                    failed += 1;
                }
            }
            failed
        };
        Box::pin(all_saved.into_actor(self).map(move |failed, _act, _ctx| {
            tracing::info!(saved = total - failed, failed, "sessions saved");
        }))
    }
}
