//! A session's life as the control plane runs it (docs/protocol.md section
//! 12.1 (lifetime)): the sessions started for their tasks at startup, the
//! grace timer, the save-and-stop handshake with the session, a session's
//! end after a store failure, and the service's shutdown. None of it waits:
//! stops are asked and their answers handled when they come.

use std::time::Duration;

use actix::{
    ActorFutureExt, AsyncContext, Context, Handler, MailboxError, ResponseActFuture, WrapFuture,
};

use super::{Disowned, Parked, Shutdown, Supervisor};
use crate::app::App;
use crate::ids::SessionKey;
use crate::messages::{
    CloseConnection, Disown, SessionEnded, SessionIdle, Stop, StopMode, StopOutcome,
};
use crate::protocol::close::CloseCode;
use crate::store::blocking;

impl<A: App> Supervisor<A> {
    /// Lists, on the blocking pool, the sessions whose restartable tasks
    /// were running when the service last stopped, and starts them; with
    /// no tab they stop after the grace time once their tasks end.
    pub(super) fn start_sessions_with_tasks(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let listing = blocking(None, move || store.sessions_with_tasks());
        ctx.spawn(listing.into_actor(self).map(|keys, act, ctx| {
            let keys = match keys {
                Ok(keys) => keys,
                Err(e) => {
                    tracing::error!(error = %e, "could not list sessions with running tasks");
                    return;
                }
            };
            for key in keys {
                if act.shutting_down || act.sessions.contains_key(&key) {
                    continue;
                }
                if act.sessions.len() >= act.config.max_sessions {
                    tracing::warn!(key = %key, "at the session limit; its tasks restart at its next join");
                    continue;
                }
                tracing::info!(key = %key, "starting a session to restart its tasks");
                act.start_session(&key, ctx);
                act.start_grace(&key, ctx);
            }
        }));
    }

    /// Starts the grace timer of a session with no tabs, afresh: an armed
    /// timer is cancelled first, so the last task ending restarts the
    /// grace time (docs/protocol.md section 12.1 (lifetime)).
    pub(super) fn start_grace(&mut self, key: &SessionKey, ctx: &mut Context<Self>) {
        let grace = self.config.grace;
        let Some(entry) = self.sessions.get_mut(key) else {
            return;
        };
        if !entry.tabs.is_empty() || entry.stopping.is_some() {
            return;
        }
        if let Some(armed) = entry.grace.take() {
            ctx.cancel_future(armed);
        }
        let key = key.clone();
        entry.grace = Some(ctx.run_later(grace, move |act, ctx| act.grace_expired(key, ctx)));
    }

    fn grace_expired(&mut self, key: SessionKey, ctx: &mut Context<Self>) {
        let Some(entry) = self.sessions.get_mut(&key) else {
            return;
        };
        entry.grace = None;
        if !entry.tabs.is_empty() || entry.stopping.is_some() {
            return;
        }
        entry.stopping = Some(Parked::default());
        let stop = entry.addr.send(Stop {
            mode: StopMode::IfIdle,
        });
        let incarnation = entry.incarnation;
        ctx.spawn(
            stop.into_actor(self)
                .map(move |result, act, ctx| act.stop_answered(key, incarnation, result, ctx)),
        );
    }

    pub(super) fn stop_answered(
        &mut self,
        key: SessionKey,
        incarnation: u64,
        result: Result<StopOutcome, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        let Some(entry) = self
            .sessions
            .get_mut(&key)
            .filter(|e| e.incarnation == incarnation)
        else {
            return;
        };
        let parked = match result {
            Ok(StopOutcome::Stopped(_)) | Err(_) => {
                self.restarts.remove(&key);
                self.forget_stopped(&key, result.ok())
            }
            // Busy (a task runs or events are still queued) or the save
            // failed: try again after another grace time. A task's end
            // (SessionIdle) also re-arms it.
            Ok(StopOutcome::Busy | StopOutcome::SaveFailed) => {
                let parked = entry.stopping.take().unwrap_or_default();
                self.start_grace(&key, ctx);
                parked
            }
        };
        self.replay(&key, parked, ctx);
    }

    /// Forgets `key`'s session, which has stopped (`stopped`: its answer,
    /// `None` if its actor was gone), keeps the summary joins it handed
    /// back, and returns what waited for the stop.
    pub(super) fn forget_stopped(
        &mut self,
        key: &SessionKey,
        stopped: Option<StopOutcome>,
    ) -> Parked<A> {
        let parked = self
            .sessions
            .remove(key)
            .and_then(|e| e.stopping)
            .unwrap_or_default();
        if let Some(StopOutcome::Stopped(watchers)) = stopped {
            self.keep_watchers(key, watchers, &parked.unwatched);
        }
        parked
    }
}

/// The first pause before restarting a session that failed with tasks.
const RESTART_FIRST: Duration = Duration::from_millis(100);
/// The longest pause between such restarts.
const RESTART_MAX: Duration = Duration::from_secs(30);

impl<A: App> Supervisor<A> {
    /// Starts a session that ended after a store failure while its tasks
    /// ran with no tab: it loads from the store and restarts its
    /// restartable tasks; if the store still fails, it ends again and the
    /// next try waits twice as long.
    fn restart_for_tasks(&mut self, key: &SessionKey, ctx: &mut Context<Self>) {
        if self.shutting_down || self.sessions.contains_key(key) || self.fenced.contains_key(key) {
            self.restarts.remove(key);
            return;
        }
        if self.sessions.len() >= self.config.max_sessions {
            tracing::warn!(key = %key, "at the session limit; its tasks restart at its next join");
            self.restarts.remove(key);
            return;
        }
        self.start_session(key, ctx);
        self.start_grace(key, ctx);
        if let Some(restart) = self.restarts.get_mut(key) {
            restart.1 = self.incarnations;
        }
    }
}

impl<A: App> Handler<SessionIdle> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: SessionIdle, ctx: &mut Self::Context) {
        self.start_grace(&msg.key, ctx);
    }
}

impl<A: App> Handler<SessionEnded> for Supervisor<A> {
    type Result = ();

    /// Forgets a session that can no longer serve its key, then stops it:
    /// everything sent to it before (joins, watches) is answered first, and
    /// the next join starts a fresh session that loads from the store.
    fn handle(&mut self, msg: SessionEnded, ctx: &mut Self::Context) {
        if self
            .sessions
            .get(&msg.key)
            .is_none_or(|e| e.incarnation != msg.incarnation)
        {
            return;
        }
        let Some(entry) = self.sessions.remove(&msg.key) else {
            return;
        };
        tracing::warn!(key = %msg.key, tabs = entry.tabs.len(), "session ended after a store failure; the next join starts it afresh");
        if let Some(grace) = entry.grace {
            ctx.cancel_future(grace);
        }
        // Tabs rejoin by themselves; background work with no tab needs the
        // supervisor to start the session again once the store works.
        // A restart that failed again waits twice as long as the last one.
        let previous = self
            .restarts
            .remove(&msg.key)
            .filter(|(_, started)| *started == msg.incarnation)
            .map(|(wait, _)| wait);
        if entry.tabs.is_empty() && (msg.had_tasks || previous.is_some()) {
            let wait = previous.map_or(RESTART_FIRST, |w| (w * 2).min(RESTART_MAX));
            self.restarts.insert(msg.key.clone(), (wait, 0));
            let key = msg.key.clone();
            tracing::info!(key = %key, wait_ms = wait.as_millis(), "restarting the session for its tasks after a pause");
            ctx.run_later(wait, move |act, ctx| act.restart_for_tasks(&key, ctx));
        }
        entry.addr.do_send(Stop {
            mode: StopMode::Shutdown,
        });
        // The store lets the key go (a shared store's lease, which would
        // otherwise be renewed for as long as this node runs) before the
        // next session of it starts here: what arrives for the key waits
        // behind the fence meanwhile.
        let parked = entry.stopping.unwrap_or_default();
        self.fenced.insert(msg.key.clone(), parked);
        let store = self.store.clone();
        let key = msg.key.clone();
        let releasing = blocking(Some(&msg.key), move || {
            store.release(&key);
            Ok(())
        });
        let key = msg.key;
        ctx.spawn(releasing.into_actor(self).map(move |_, act, ctx| {
            let parked = act.fenced.remove(&key).unwrap_or_default();
            act.replay(&key, parked, ctx);
        }));
    }
}

impl<A: App> Handler<Disowned> for Supervisor<A> {
    type Result = ();

    /// Tells each live session of `keys` to give its key up; it then
    /// reports `SessionEnded`, as after a store failure, and the next join
    /// of the key here loads it again (which another node's lease refuses
    /// while that node owns it).
    fn handle(&mut self, msg: Disowned, _ctx: &mut Self::Context) {
        for key in msg.keys {
            if let Some(entry) = self.sessions.get(&key) {
                tracing::warn!(key = %key, tabs = entry.tabs.len(), "this node no longer owns the session");
                entry.addr.do_send(Disown);
            }
        }
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
            stops.push(entry.addr.send(Stop {
                mode: StopMode::Shutdown,
            }));
        }
        // Every Stop is already in its session's mailbox (`send` enqueues at
        // once), so awaiting the answers in turn still saves in parallel.
        let all_saved = async move {
            let mut failed = 0;
            for stop in stops {
                if !matches!(stop.await, Ok(StopOutcome::Stopped(_))) {
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
