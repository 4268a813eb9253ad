//! Session handles (`Hub::session`) reach a session through the control
//! plane: [`Lookup`] finds the live session of a key or starts it (it loads
//! itself; with no tab joined its grace timer runs), and [`ListTabs`] lists
//! the tabs the registry holds. Both are in-memory work.

use std::time::SystemTime;

use actix::{Addr, Context, Handler, Message, ResponseFuture};
use tokio::sync::oneshot;

use super::Supervisor;
use crate::app::App;
use crate::ids::{SessionKey, TabId};
use crate::protocol::message::Visibility;
use crate::session::SessionActor;

/// Why a session could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// The service is shutting down.
    ShuttingDown,
    /// Starting the session would pass `--max-sessions`.
    Capacity,
}

/// Sent by a session handle; replies with the session's address, starting
/// the session if it is not live. A lookup during a stop waits for it.
pub(crate) struct Lookup<A: App> {
    pub(crate) key: SessionKey,
    pub(crate) _app: std::marker::PhantomData<A>,
}

impl<A: App> Message for Lookup<A> {
    type Result = Result<Addr<SessionActor<A>>, LookupError>;
}

/// A lookup that waits for a stop to be answered.
pub(super) type ParkedLookup<A> = oneshot::Sender<Result<Addr<SessionActor<A>>, LookupError>>;

/// One tab of a session, as `SessionHandle::tabs` reports it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TabInfo<I> {
    /// The tab's id.
    pub tab_id: TabId,
    /// Whether the page is shown.
    pub visibility: Visibility,
    /// Whether it is the session's elected tab.
    pub leader: bool,
    /// When it first joined (a rejoin or a takeover keeps the time).
    pub joined_since: SystemTime,
    /// Its connection's identity ([`crate::App::connect`]).
    pub identity: I,
}

/// Sent by a session handle; replies with the tabs joined to the session
/// (none if it is not live).
pub(crate) struct ListTabs<A: App> {
    pub(crate) key: SessionKey,
    pub(crate) _app: std::marker::PhantomData<A>,
}

impl<A: App> Message for ListTabs<A> {
    type Result = Vec<TabInfo<A::Identity>>;
}

impl<A: App> Supervisor<A> {
    /// The live session of `key`, started if need be; `None` if the lookup
    /// was parked behind a stop (`park` then gets the answer later).
    pub(super) fn look_up(
        &mut self,
        key: &SessionKey,
        park: ParkedLookup<A>,
        ctx: &mut Context<Self>,
    ) {
        if self.shutting_down {
            let _ = park.send(Err(LookupError::ShuttingDown));
            return;
        }
        // Parked first: a session whose actor has ended while its stop's
        // answer is on its way still holds what waits for that answer
        // (joins, lookups, retires); forgetting it here would drop them.
        if let Some(parked) = self.parked_for(key) {
            parked.lookups.push(park);
            return;
        }
        if self.sessions.get(key).is_some_and(|e| !e.addr.connected()) {
            self.sessions.remove(key);
        }
        if let Some(entry) = self.sessions.get(key) {
            let _ = park.send(Ok(entry.addr.clone()));
            return;
        }
        if self.sessions.len() >= self.config.max_sessions {
            let _ = park.send(Err(LookupError::Capacity));
            return;
        }
        self.start_session(key, ctx);
        // No tab: it stops after the grace time unless one joins.
        self.start_grace(key, ctx);
        if let Some(entry) = self.sessions.get(key) {
            let _ = park.send(Ok(entry.addr.clone()));
        }
    }
}

impl<A: App> Handler<Lookup<A>> for Supervisor<A> {
    type Result = ResponseFuture<Result<Addr<SessionActor<A>>, LookupError>>;

    fn handle(&mut self, msg: Lookup<A>, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.look_up(&msg.key, tx, ctx);
        Box::pin(async move { rx.await.unwrap_or(Err(LookupError::ShuttingDown)) })
    }
}

impl<A: App> Handler<ListTabs<A>> for Supervisor<A> {
    type Result = actix::MessageResult<ListTabs<A>>;

    fn handle(&mut self, msg: ListTabs<A>, _ctx: &mut Self::Context) -> Self::Result {
        let tabs = self.sessions.get(&msg.key).map_or_else(Vec::new, |entry| {
            entry
                .tabs
                .iter()
                .map(|t| TabInfo {
                    tab_id: t.tab.clone(),
                    visibility: t.visibility,
                    leader: entry.leader.as_ref() == Some(&t.tab),
                    joined_since: t.joined_at,
                    identity: t
                        .identity
                        .downcast_ref::<A::Identity>()
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect()
        });
        actix::MessageResult(tabs)
    }
}
