//! Serving tabs of sessions another node owns, with a store shared by
//! several nodes (docs/scale-out.md, "Remote tabs"). Nodes meet only in
//! the store: its [`crate::store::NodeBus`] names each session's owner and
//! carries messages between nodes.
//!
//! - `node.rs`: [`Node`], one per hub: reads this node's channel,
//!   dispatches what arrives, and notices lost messages and dead nodes.
//! - `route.rs`: the tab side: joins go to their session's owner, here or
//!   elsewhere, and so does everything after them; the owner's deliveries
//!   come back to the tab.
//! - `guest.rs`: the owner side: a [`guest::Guest`] per connection of
//!   another node, a tab like any other to the supervisor and sessions.
//! - `calls.rs`: server code's calls (a session handle, the server API)
//!   for a session another node owns run there.
//! - `wire.rs`: the messages, `links.rs`: their numbering, `stats.rs`:
//!   the counters.

mod calls;
mod guest;
mod links;
mod node;
mod route;
mod stats;
mod wire;

pub(crate) use calls::{CallAnswer, CallLost, CallOwner, Locate, RunCall};
pub(crate) use guest::GuestShared;
pub(crate) use links::Outbox;
pub(crate) use node::{Identities, Node};
pub(crate) use stats::ClusterStats;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use actix::{Actor, Addr, Arbiter};

use crate::app::App;
use crate::config::Config;
use crate::messages::{ActivityClock, SupervisorLink};
use crate::store::SessionStore;

/// Starts the node's router on `thread` if `store` is shared by several
/// nodes (it offers a [`crate::store::NodeBus`]); `None` otherwise, and
/// tabs talk to the supervisor directly. `supervisor` is the supervisor's
/// own link; `clock` and `next_conn` are the hub's, shared with the
/// guests so other nodes' tabs are stamped and numbered as local ones;
/// `run_here` runs other nodes' session handle calls here.
pub(crate) fn start<A: App>(
    thread: &Arbiter,
    store: Arc<dyn SessionStore>,
    supervisor: &SupervisorLink,
    clock: &ActivityClock,
    config: &Arc<Config>,
    next_conn: &Arc<AtomicU64>,
    run_here: RunCall,
) -> Option<(Addr<Node>, Arc<ClusterStats>)> {
    let node_id = store.bus()?.node().to_owned();
    let stats = Arc::new(ClusterStats::default());
    let shared = GuestShared {
        supervisor: supervisor.clone(),
        outbox: Arc::new(Outbox::new(store.clone(), node_id, stats.clone())),
        clock: clock.clone(),
        config: config.clone(),
    };
    let node = Node::new(
        store,
        shared,
        Identities::of::<A>(),
        run_here,
        next_conn.clone(),
        stats.clone(),
    )?;
    Some((Node::start_in_arbiter(&thread.handle(), |_| node), stats))
}
