//! Chained events waiting for a tab to re-submit them: docs/protocol.md section 10 (chains).
//!
//! A chain goes to exactly one tab: its originating tab if still joined,
//! else the leader. If that tab leaves, or does not re-submit within the
//! chain timeout, the chain is re-sent (same id) to the leader. With no tab
//! joined it waits and goes to the first tab that joins.
//!
//! A session holds at most `--max-pending-chains` (a handler that would
//! create more fails). Chains are paced: a tab has at most
//! [`SessionActor::chain_window`] chains on the wire at a time, and each
//! one it re-submits lets the next one go, so a rejoin with many chains
//! waiting fits in the tab's outbound budget instead of overflowing it
//! (which would drop the join, and the rejoin would overflow again).
//!
//! Field written here: `chains` (through `Chains`' methods).

use actix::AsyncContext;
use serde_json::Value;

use super::{Ctx, SessionActor};
use crate::app::App;
use crate::ids::{ChainId, TabId};
use crate::protocol::event;
use crate::protocol::message::{self, ChainPayload};
use crate::store::{SavedChain, Step};

/// One chain not yet re-submitted.
pub(super) struct PendingChain {
    pub(super) name: String,
    pub(super) payload: Value,
    /// The tab it was last sent to; `None` while no tab could take it.
    holder: Option<TabId>,
    /// Whether it is on the wire to `holder` (else it waits for room in
    /// the holder's window).
    delivered: bool,
    /// Bumped on every send, so a timeout only fires for the latest one.
    sent: u64,
}

/// Pending chains in creation order. Few at a time, so a vector.
#[derive(Default)]
pub(super) struct Chains {
    pending: Vec<(ChainId, PendingChain)>,
    sends: u64,
}

impl Chains {
    /// Re-adds a chain loaded from the store; it is sent on the next join.
    pub(super) fn restore(&mut self, id: ChainId, name: String, payload: Value) {
        self.pending.push((
            id,
            PendingChain {
                name,
                payload,
                holder: None,
                delivered: false,
                sent: 0,
            },
        ));
    }

    /// How many chains wait, on the wire or not.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// The tab holding chain `id`, if any.
    pub(super) fn holder_of(&self, id: &ChainId) -> Option<TabId> {
        self.pending
            .iter()
            .find(|(c, _)| c == id)
            .and_then(|(_, c)| c.holder.clone())
    }

    /// Removes a chain for handling; `None` if it is not pending.
    pub(super) fn take(&mut self, id: &ChainId) -> Option<PendingChain> {
        let i = self.pending.iter().position(|(c, _)| c == id)?;
        Some(self.pending.remove(i).1)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&ChainId, &PendingChain)> {
        self.pending.iter().map(|(id, c)| (id, c))
    }

    fn get_mut(&mut self, id: &ChainId) -> Option<&mut PendingChain> {
        self.pending
            .iter_mut()
            .find(|(c, _)| c == id)
            .map(|(_, c)| c)
    }

    fn ids_where(&self, pred: impl Fn(&PendingChain) -> bool) -> Vec<ChainId> {
        self.pending
            .iter()
            .filter(|(_, c)| pred(c))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

impl<A: App> SessionActor<A> {
    /// Creates a chain requested by a handler and sends it.
    pub(super) fn create_chain(
        &mut self,
        step: &mut Step,
        name: String,
        payload: Value,
        origin: Option<TabId>,
        ctx: &mut Ctx<A>,
    ) {
        let id = ChainId::random();
        // Its origin tab while joined, else the leader; later re-sends go
        // to the leader.
        let target = origin
            .filter(|tab| self.members.contains(tab))
            .or_else(|| self.leader.clone());
        step.chains_added.push(SavedChain {
            chain: id.clone(),
            name: name.clone(),
            payload: payload.clone(),
        });
        self.chains.pending.push((
            id.clone(),
            PendingChain {
                name,
                payload,
                holder: None,
                delivered: false,
                sent: 0,
            },
        ));
        self.send_chain(&id, target, ctx);
    }

    /// Chains a tab may have on the wire at once: a quarter of its
    /// outbound buffer, at most 64.
    pub(super) fn chain_window(&self) -> usize {
        (self.config.outbound_max_messages / 4).clamp(1, 64)
    }

    /// Hands the chain to `target` (or parks it if `None`); it goes on the
    /// wire when `target` has room in its window.
    fn send_chain(&mut self, id: &ChainId, target: Option<TabId>, ctx: &mut Ctx<A>) {
        let Some(chain) = self.chains.get_mut(id) else {
            return;
        };
        chain.holder = target.clone();
        chain.delivered = false;
        if let Some(tab) = target {
            self.fill_chain_window(&tab, ctx);
        }
    }

    /// Puts the oldest chains held by `tab` and not yet on the wire onto
    /// it, while the tab's window has room, each with its timeout.
    pub(super) fn fill_chain_window(&mut self, tab: &TabId, ctx: &mut Ctx<A>) {
        let held = |c: &PendingChain| c.holder.as_ref() == Some(tab);
        let mut room = self
            .chain_window()
            .saturating_sub(self.chains.ids_where(|c| held(c) && c.delivered).len());
        for id in self.chains.ids_where(|c| held(c) && !c.delivered) {
            if room == 0 {
                break;
            }
            room -= 1;
            self.chains.sends += 1;
            let sent = self.chains.sends;
            let Some(chain) = self.chains.get_mut(&id) else {
                continue;
            };
            chain.delivered = true;
            chain.sent = sent;
            let payload = message::to_raw(&ChainPayload {
                chain: &id,
                name: &chain.name,
                payload: &chain.payload,
            });
            self.push_to(tab, event::CHAIN, payload);
            self.control.metrics.chains_dispatched.inc();
            ctx.run_later(self.config.chain_timeout, move |act, ctx| {
                act.chain_timed_out(&id, sent, ctx);
            });
        }
    }

    /// The holder did not re-submit in time: re-send to the leader.
    fn chain_timed_out(&mut self, id: &ChainId, sent: u64, ctx: &mut Ctx<A>) {
        let still_waiting = self
            .chains
            .get_mut(id)
            .is_some_and(|c| c.delivered && c.sent == sent);
        if still_waiting {
            let _span = self.control.span.clone().entered();
            tracing::debug!(key = %self.key, chain = id.as_str(), "chain timed out; re-sending to the leader");
            self.reelect_chain(id, ctx);
        }
    }

    /// Hands a chain whose tab left or timed out to the leader (or parks
    /// it, with no leader).
    fn reelect_chain(&mut self, id: &ChainId, ctx: &mut Ctx<A>) {
        let leader = self.leader.clone();
        if leader.is_some() {
            self.control.metrics.chains_reelected.inc();
        }
        self.send_chain(id, leader, ctx);
    }

    /// `tab` left: chains it held go to the leader at once.
    pub(super) fn reroute_chains_held_by(&mut self, tab: &TabId, ctx: &mut Ctx<A>) {
        for id in self.chains.ids_where(|c| c.holder.as_ref() == Some(tab)) {
            self.reelect_chain(&id, ctx);
        }
    }

    /// `tab` joined (or took over, or rejoined): it gets the chains it held
    /// and those that waited for any tab, as its window allows (what was on
    /// the wire to its old join is sent again).
    pub(super) fn resend_chains_on_join(&mut self, tab: &TabId, ctx: &mut Ctx<A>) {
        for id in self
            .chains
            .ids_where(|c| c.holder.is_none() || c.holder.as_ref() == Some(tab))
        {
            if let Some(chain) = self.chains.get_mut(&id) {
                chain.holder = Some(tab.clone());
                chain.delivered = false;
            }
        }
        self.fill_chain_window(tab, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_chain_is_no_longer_pending() {
        let mut chains = Chains::default();
        let id = ChainId::new("c1");
        chains.restore(id.clone(), "step".into(), Value::Null);
        assert!(chains.take(&id).is_some());
        assert!(chains.take(&id).is_none());
    }
}
