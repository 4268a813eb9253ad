//! What waits behind a stop gets an answer: a session that has stopped
//! while the supervisor has not yet handled its stop's answer keeps the
//! joins and lookups parked on it, whatever arrives meanwhile.
//!
//! That window (the session's actor gone, its answer still on the way) is
//! a race between two threads in a running service. Here it is built on
//! purpose: the test marks the session stopping as the grace timer would,
//! stops the session itself, and hands the supervisor the answer only
//! after the join and the lookup arrived.

use actix::{Addr, Context, Handler, Message};

use super::{Hub, Tab, Worker};
use crate::messages::{Stop, StopMode, StopOutcome};
use crate::session::SessionActor;
use crate::supervisor::retire::Parked;
use crate::supervisor::{Lookup, LookupError, Supervisor};

/// The supervisor under test and its context.
type Sup = Supervisor<Worker>;

/// Runs a closure inside a supervisor handler, with its state and context.
struct Poke<R>(Box<dyn PokeFn<R>>);

/// What a [`Poke`] runs.
trait PokeFn<R>: FnOnce(&mut Sup, &mut Context<Sup>) -> R + Send {}
impl<R, F: FnOnce(&mut Sup, &mut Context<Sup>) -> R + Send> PokeFn<R> for F {}

impl<R: Send + 'static> Message for Poke<R> {
    type Result = R;
}

impl<R: Send + 'static> Handler<Poke<R>> for Supervisor<Worker> {
    type Result = actix::MessageResult<Poke<R>>;

    fn handle(&mut self, msg: Poke<R>, ctx: &mut Self::Context) -> Self::Result {
        actix::MessageResult((msg.0)(self, ctx))
    }
}

impl Hub {
    pub(super) async fn poke<R: Send + 'static>(
        &self,
        run: impl FnOnce(&mut Supervisor<Worker>, &mut Context<Supervisor<Worker>>) -> R
            + Send
            + 'static,
    ) -> R {
        self.supervisor
            .send(Poke(Box::new(run)))
            .await
            .expect("the supervisor runs")
    }

    /// The grace timer's stop, taken apart: the session is marked stopping
    /// (what arrives for its key now waits), the stop itself is sent by the
    /// test, and this returns once the session's actor has ended, with the
    /// session's answer (not yet handed to the supervisor: the test does
    /// that with `stop_answered`, when it chooses) and its incarnation.
    pub(super) async fn stop_as_the_grace_timer_would(
        &self,
    ) -> (Result<StopOutcome, actix::MailboxError>, u64) {
        let key = self.key.clone();
        let (session, incarnation): (Addr<SessionActor<Worker>>, u64) = self
            .poke(move |sup, ctx| {
                let entry = sup.sessions.get_mut(&key).expect("the session is live");
                if let Some(grace) = entry.grace.take() {
                    actix::AsyncContext::cancel_future(ctx, grace);
                }
                entry.stopping = Some(Parked::default());
                (entry.addr.clone(), entry.incarnation)
            })
            .await;
        let stopped = session
            .send(Stop {
                mode: StopMode::IfIdle,
            })
            .await;
        let patience = crate::messages::testing::Patience::new("the session's actor to end");
        while session.connected() {
            patience.wait().await;
        }
        (stopped, incarnation)
    }
}

#[actix_rt::test]
async fn a_lookup_while_a_stopped_sessions_answer_is_on_its_way_leaves_the_parked_join_to_be_answered(
) {
    let hub = Hub::start();
    let mut a = Tab::new("a");
    a.join(&hub).await;
    a.leave(&hub).await;

    let (stopped, incarnation) = hub.stop_as_the_grace_timer_would().await;
    assert!(
        matches!(stopped, Ok(StopOutcome::Stopped(_))),
        "{stopped:?}"
    );

    // A tab joins (parked behind the stop), then server code looks the
    // key up, both before the supervisor hears the stop's answer.
    let mut b = Tab::new("b");
    b.send_join(&hub).await;
    let lookup = hub.supervisor.send(Lookup::<Worker> {
        key: hub.key.clone(),
        _app: std::marker::PhantomData,
    });
    let lookup = actix_rt::spawn(lookup);
    hub.stats().await;
    assert!(!lookup.is_finished(), "the lookup waits for the stop too");

    let key = hub.key.clone();
    hub.poke(move |sup, ctx| {
        sup.stop_answered(key, incarnation, stopped, ctx);
    })
    .await;

    b.joined().await;
    assert!(b.session_answers().await, "b joined a running session");
    let found: Result<Addr<SessionActor<Worker>>, LookupError> = lookup
        .await
        .expect("the lookup's task ran")
        .expect("the supervisor answered");
    let found = found.expect("the lookup found the session");
    assert!(found.connected(), "the lookup got the new session");
    assert_eq!(hub.stats().await.sessions, 1, "one session, not two");
}
