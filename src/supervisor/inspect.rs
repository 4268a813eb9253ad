//! What the server API's listing (`GET /api/sessions`) asks of the
//! registry: [`ListLive`], a page of this node's live sessions in a stable
//! order that reveals nothing of their keys, and [`FindLive`], which of
//! some keys (a page of the store's) are live here. In-memory work: one
//! pass over the registry, keeping the page in a bounded heap.

use std::collections::BinaryHeap;
use std::hash::{BuildHasher, RandomState};

use actix::{Addr, Handler, Message, MessageResult};

use super::Supervisor;
use crate::app::App;
use crate::ids::SessionKey;
use crate::protocol::message::Visibility;
use crate::session::SessionActor;

/// A live session as the registry knows it.
pub(crate) struct LiveRow<A: App> {
    pub(crate) key: SessionKey,
    /// Its place in the listing's order (the key's hash under the
    /// listing's `RandomState`): the page cursor.
    pub(crate) order: u64,
    pub(crate) addr: Addr<SessionActor<A>>,
    /// Tabs joined, and how many of them are visible.
    pub(crate) tabs: usize,
    pub(crate) visible_tabs: usize,
}

/// Sent by the listing: at most `limit` live sessions whose order is above
/// `after`, in ascending order.
pub(crate) struct ListLive<A: App> {
    pub(crate) after: Option<u64>,
    pub(crate) limit: usize,
    /// The same for every call of one hub, so pages follow each other.
    pub(crate) order: RandomState,
    pub(crate) _app: std::marker::PhantomData<A>,
}

impl<A: App> Message for ListLive<A> {
    type Result = Vec<LiveRow<A>>;
}

/// Sent by the listing: for each key, its live session here, if any.
pub(crate) struct FindLive<A: App> {
    pub(crate) keys: Vec<SessionKey>,
    pub(crate) order: RandomState,
    pub(crate) _app: std::marker::PhantomData<A>,
}

impl<A: App> Message for FindLive<A> {
    type Result = Vec<Option<LiveRow<A>>>;
}

impl<A: App> Supervisor<A> {
    /// The row of `key`'s live session, if it has one (an ended actor
    /// whose end is not handled yet is not live).
    fn live_row(&self, key: &SessionKey, order: &RandomState) -> Option<LiveRow<A>> {
        let entry = self.sessions.get(key).filter(|e| e.addr.connected())?;
        Some(LiveRow {
            key: key.clone(),
            order: order.hash_one(key),
            addr: entry.addr.clone(),
            tabs: entry.tabs.len(),
            visible_tabs: entry
                .tabs
                .iter()
                .filter(|t| t.visibility == Visibility::Visible)
                .count(),
        })
    }
}

impl<A: App> Handler<ListLive<A>> for Supervisor<A> {
    type Result = MessageResult<ListLive<A>>;

    fn handle(&mut self, msg: ListLive<A>, _ctx: &mut Self::Context) -> Self::Result {
        // The `limit` smallest orders above `after`: a max-heap of at most
        // `limit` entries, so a page costs O(n log limit), never a sort
        // of the whole registry.
        let mut page: BinaryHeap<(u64, &SessionKey)> = BinaryHeap::new();
        for (key, entry) in &self.sessions {
            if !entry.addr.connected() {
                continue;
            }
            let order = msg.order.hash_one(key);
            if msg.after.is_some_and(|after| order <= after) {
                continue;
            }
            if page.len() < msg.limit {
                page.push((order, key));
            } else if page.peek().is_some_and(|(top, _)| order < *top) {
                page.pop();
                page.push((order, key));
            }
        }
        let rows = page
            .into_sorted_vec()
            .into_iter()
            .filter_map(|(_, key)| self.live_row(key, &msg.order))
            .collect();
        MessageResult(rows)
    }
}

impl<A: App> Handler<FindLive<A>> for Supervisor<A> {
    type Result = MessageResult<FindLive<A>>;

    fn handle(&mut self, msg: FindLive<A>, _ctx: &mut Self::Context) -> Self::Result {
        let rows = msg
            .keys
            .iter()
            .map(|key| self.live_row(key, &msg.order))
            .collect();
        MessageResult(rows)
    }
}
