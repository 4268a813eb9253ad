//! What a node counts of its traffic with other nodes, for `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one node's traffic with the others.
#[derive(Default)]
pub(crate) struct ClusterStats {
    /// Messages published to other nodes.
    pub(crate) sent: AtomicU64,
    /// Messages received from other nodes.
    pub(crate) received: AtomicU64,
    /// Joins of this node's tabs sent to the node owning their session.
    pub(crate) joins_forwarded: AtomicU64,
    /// Deliveries from owners passed to this node's tabs.
    pub(crate) delivered: AtomicU64,
    /// Times messages from another node were found lost (a skipped
    /// number, or a resubscribed channel); the joins concerned rejoined.
    pub(crate) gaps: AtomicU64,
    /// Times another node was found dead (its liveness key lapsed).
    pub(crate) peers_lost: AtomicU64,
}

impl ClusterStats {
    /// The counters in Prometheus' text format.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        let rows: [(&str, &str, &AtomicU64); 6] = [
            (
                "tabhub_remote_messages_sent_total",
                "Messages published to other nodes.",
                &self.sent,
            ),
            (
                "tabhub_remote_messages_received_total",
                "Messages received from other nodes.",
                &self.received,
            ),
            (
                "tabhub_remote_joins_forwarded_total",
                "Joins of this node's tabs sent to the node owning their session.",
                &self.joins_forwarded,
            ),
            (
                "tabhub_remote_deliveries_total",
                "Deliveries from other nodes' sessions passed to this node's tabs.",
                &self.delivered,
            ),
            (
                "tabhub_remote_gaps_total",
                "Times messages from another node were lost; the joins concerned rejoined.",
                &self.gaps,
            ),
            (
                "tabhub_remote_peers_lost_total",
                "Times another node was found dead; the joins concerned rejoined.",
                &self.peers_lost,
            ),
        ];
        for (name, help, value) in rows {
            let value = value.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out
    }
}
