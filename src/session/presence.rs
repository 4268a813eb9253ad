//! Presence changes (a tab new to the session joined, a tab left, a tab
//! was shown or hidden) run the app's presence hooks as steps of the
//! queue, like events: what a hook changes is one delta with
//! `event_id: null`, durable like any other. Only for an app that
//! [`App::tracks_presence`]; others pay nothing.
//!
//! Field written here: a member's `visibility` (the supervisor's
//! decision, projected).

use actix::Handler;

use super::apply::{Handled, Lent, Running};
use super::{Ctx, Phase, SessionActor};
use crate::app::{guarded, App, Context, Origin, Presence, PresenceChange, PresentTab};
use crate::messages::{Identity, TabShown};
use crate::protocol::message::Visibility;

use super::members::Member;

/// A member as the presence hooks see it.
pub(super) fn present<A: App>(member: &Member) -> PresentTab<A::Identity> {
    present_as::<A>(member, member.visibility == Visibility::Visible)
}

/// A member as the presence hooks see it, visible or not as told.
pub(super) fn present_as<A: App>(member: &Member, visible: bool) -> PresentTab<A::Identity> {
    PresentTab {
        tab: member.tab.clone(),
        identity: identity::<A>(&member.identity),
        visible,
    }
}

/// The app's identity behind the erased one (its default if it is not of
/// the app's type, which the supervisor never sends).
fn identity<A: App>(erased: &Identity) -> A::Identity {
    erased
        .downcast_ref::<A::Identity>()
        .cloned()
        .unwrap_or_default()
}

impl<A: App> SessionActor<A> {
    /// Runs the presence hook for `change` about `tab`, in the queue's
    /// order (the mailbox waits while it awaits), and settles what it did
    /// in a step. A hook that fails is rolled back and logged.
    pub(super) fn presence_changed(
        &mut self,
        change: PresenceChange,
        tab: PresentTab<A::Identity>,
        ctx: &mut Ctx<A>,
    ) {
        if self.phase != Phase::Ready || !self.app.tracks_presence() {
            return;
        }
        let presence = Presence {
            change,
            tab,
            tabs: self.members.iter().map(present::<A>).collect(),
        };
        // Effects "to the origin" of a join or visibility change go to
        // that tab; a tab that left is no one's to answer: all tabs.
        let origin = match change {
            PresenceChange::Left => Origin::Server,
            PresenceChange::Joined | PresenceChange::Visibility => {
                Origin::Tab(presence.tab.tab.clone())
            }
        };
        let lent = self.lend(origin.clone(), None);
        let running = run_hook(lent, presence);
        self.after(running, ctx, move |session, handled, ctx| {
            session.step(ctx, |session, step, ctx| {
                if let Err(e) = session.settle(step, handled, &origin, None, ctx) {
                    tracing::warn!(key = %session.key, ?change, error = %e, "the presence hook's change was refused");
                }
            });
        });
    }
}

/// The app's presence hook for one change, with the state lent to it, in
/// the session's span.
fn run_hook<A: App>(lent: Lent<A>, presence: Presence<A::Identity>) -> Running<A> {
    let Lent {
        app,
        key,
        origin,
        running,
        mut state,
        limit,
        span,
        seq,
        max_state_bytes,
        ..
    } = lent;
    Box::pin(tracing::Instrument::instrument(
        async move {
            let is_running = |task: &str| running.contains(task);
            let identity = Some(&presence.tab.identity);
            let mut cx = Context::new(&key, origin, identity, &is_running)
                .at(seq, None)
                .bounded(max_state_bytes);
            let hook = app.presence_changed(&mut state, &presence, &mut cx);
            let result = guarded("presence hook", limit, hook).await;
            Handled {
                state,
                requests: cx.into_requests(),
                result,
            }
        },
        span,
    ))
}

impl<A: App> Handler<TabShown> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: TabShown, ctx: &mut Self::Context) {
        let _span = self.control.span.clone().entered();
        let Some(member) = self.members.find_mut(&msg.tab, msg.conn) else {
            return;
        };
        member.visibility = msg.visibility;
        let tab = present::<A>(member);
        self.presence_changed(PresenceChange::Visibility, tab, ctx);
    }
}
