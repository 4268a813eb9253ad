//! Leaves, visibility changes, connections' lives and the registry's
//! counts: the rest of what the control plane is told.

use actix::Handler;

use super::{HubStats, Stats, Supervisor};
use crate::app::App;
use crate::messages::{
    CloseConnection, Detach, Leave, SetLeader, SetVisibility, TabGone, TabShown, TabStarted,
};
use crate::protocol::close::CloseCode;

impl<A: App> Handler<Leave> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: Leave, ctx: &mut Self::Context) {
        if let Some(parked) = self.parked_for(&msg.key) {
            parked
                .joins
                .retain(|j| !(j.tab == msg.tab && j.conn == msg.conn));
        }
        // Not a full join of the live session (a summary join, or a leave
        // from a connection that was taken over, which is stale).
        let full = self.sessions.get(&msg.key).and_then(|entry| {
            entry
                .tabs
                .iter()
                .position(|t| t.tab == msg.tab && t.conn == msg.conn)
        });
        let (Some(i), Some(entry)) = (full, self.sessions.get_mut(&msg.key)) else {
            return self.unwatch(&msg.key, &msg.tab, msg.conn);
        };
        entry.tabs.remove(i);
        if entry.elect() {
            tracing::info!(key = %msg.key, leader = ?entry.leader, "leader re-elected");
        }
        tracing::info!(key = %msg.key, tab = %msg.tab, tabs = entry.tabs.len(), "leave");
        entry.addr.do_send(Detach {
            tab: msg.tab,
            conn: msg.conn,
            leader: entry.leader.clone(),
            tabs: entry.tabs.len(),
        });
        if entry.tabs.is_empty() {
            self.start_grace(&msg.key, ctx);
        }
    }
}

impl<A: App> Handler<SetVisibility> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: SetVisibility, _ctx: &mut Self::Context) {
        let Some(entry) = self.sessions.get_mut(&msg.key) else {
            return;
        };
        let Some(tab) = entry
            .tabs
            .iter_mut()
            .find(|t| t.tab == msg.tab && t.conn == msg.conn)
        else {
            return;
        };
        let changed = tab.visibility != msg.visibility;
        tab.visibility = msg.visibility;
        if entry.elect() {
            tracing::info!(key = %msg.key, leader = ?entry.leader, "leader re-elected on visibility");
            entry.addr.do_send(SetLeader {
                leader: entry.leader.clone(),
            });
        }
        if changed {
            entry.addr.do_send(TabShown {
                tab: msg.tab,
                conn: msg.conn,
                visibility: msg.visibility,
            });
        }
    }
}

impl<A: App> Handler<TabStarted> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: TabStarted, _ctx: &mut Self::Context) {
        if self.shutting_down {
            msg.close.do_send(CloseConnection {
                code: CloseCode::ServiceRestart,
            });
        } else {
            self.conns.insert(msg.conn, msg.close);
        }
    }
}

impl<A: App> Handler<TabGone> for Supervisor<A> {
    type Result = ();

    fn handle(&mut self, msg: TabGone, _ctx: &mut Self::Context) {
        self.conns.remove(&msg.conn);
    }
}

impl<A: App> Handler<Stats> for Supervisor<A> {
    type Result = actix::MessageResult<Stats>;

    fn handle(&mut self, _msg: Stats, _ctx: &mut Self::Context) -> Self::Result {
        actix::MessageResult(HubStats {
            sessions: self.sessions.len(),
            connections: self.conns.len(),
            tabs: self.sessions.values().map(|e| e.tabs.len()).sum(),
            summary_joins: self
                .summary_joins
                .load(std::sync::atomic::Ordering::Relaxed),
        })
    }
}
