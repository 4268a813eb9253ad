//! Sessions this node no longer owns, with a store shared by several
//! nodes: the store notices when another node took a session's lease (its
//! renewals), and this task, on the supervisor's thread, asks it a few
//! times a second (on the blocking pool) and hands what it lost to the
//! supervisor, which tells each session to give its key up. With a store
//! that never loses a session the task ends at its first ask.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;

use crate::app::App;
use crate::store::{blocking, SessionStore};
use crate::supervisor::{Disowned, Supervisor};

/// How often the store is asked.
const EVERY: Duration = Duration::from_millis(200);

pub(super) async fn watch<A: App>(store: Arc<dyn SessionStore>, supervisor: Addr<Supervisor<A>>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let asked = store.clone();
        let lost = match blocking(None, move || Ok(asked.lost_sessions())).await {
            Ok(Some(keys)) => keys,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not ask the store which sessions it lost");
                continue;
            }
        };
        if lost.is_empty() {
            continue;
        }
        if supervisor.send(Disowned { keys: lost }).await.is_err() {
            return;
        }
    }
}
