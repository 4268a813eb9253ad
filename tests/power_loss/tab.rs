//! One tab of the power-loss test: what it holds, and how it pushes
//! events until the power is cut.

use std::collections::HashMap;

use serde_json::json;
use tokio::sync::watch;

use crate::common::{Client, Mirror};

/// One event in this many adds a todo of several KiB.
pub(crate) const LARGE_EVERY: u64 = 8;
/// Events a tab has in flight.
const IN_FLIGHT: usize = 2;

/// One tab: what it holds, and its events that got no answer yet.
pub(crate) struct Tab {
    pub(crate) book: usize,
    pub(crate) name: String,
    pub(crate) mirror: Option<Mirror>,
    /// Ids pushed but not answered, re-sent at the next join.
    pub(crate) unanswered: Vec<String>,
    pub(crate) next_event: u64,
}

/// Pushes events ([`IN_FLIGHT`] at a time, unanswered ones first, with
/// their ids) and applies deltas until the power is cut. Returns the tab
/// and its acknowledged events: (text, seq, whether it was a re-send).
pub(crate) async fn drive(
    mut client: Client,
    mut tab: Tab,
    key: String,
    mut cut: watch::Receiver<bool>,
    round: usize,
) -> (Tab, Vec<(String, u64, bool)>) {
    let topic = format!("session:{key}");
    let mut resend: Vec<String> = tab.unanswered.iter().rev().cloned().collect();
    let mut in_flight: HashMap<String, (String, bool)> = HashMap::new();
    let mut acks = Vec::new();
    loop {
        while in_flight.len() < IN_FLIGHT {
            let (id, retried) = match resend.pop() {
                Some(id) => (id, true),
                None => {
                    let id = format!("{}-{}", tab.name, tab.next_event);
                    tab.next_event += 1;
                    tab.unanswered.push(id.clone());
                    (id, false)
                }
            };
            let payload =
                json!({"id": id, "name": "add_todo", "payload": {"text": todo_text(&id)}});
            let Some(r) = client.try_push(&topic, "event", payload).await else {
                assert!(*cut.borrow(), "round {round}: {} lost its socket", tab.name);
                return (tab, acks);
            };
            in_flight.insert(r, (id, retried));
        }
        let m = tokio::select! {
            biased;
            _ = cut.wait_for(|off| *off) => return (tab, acks),
            m = client.try_next_msg() => m,
        };
        let Some(m) = m else {
            assert!(*cut.borrow(), "round {round}: {} lost its socket", tab.name);
            return (tab, acks);
        };
        match m.event.as_str() {
            "delta" => tab.mirror.as_mut().unwrap().apply_delta(&m.payload),
            "phx_reply" => {
                let Some((id, retried)) = m.reference.as_deref().and_then(|r| in_flight.remove(r))
                else {
                    continue;
                };
                if m.payload["status"] == "ok" {
                    let seq = m.payload["response"]["seq"].as_u64().unwrap();
                    tab.unanswered.retain(|u| u != &id);
                    acks.push((id, seq, retried));
                } else {
                    assert!(*cut.borrow(), "round {round}: {id} refused: {}", m.payload);
                }
            }
            _ => {}
        }
    }
}

/// The todo an event adds: its id, and for one event in [`LARGE_EVERY`]
/// several KiB more, so its rows span pages (redb writes each 4 KiB page
/// whole; only a write of several pages can tear).
fn todo_text(id: &str) -> String {
    let n: u64 = id
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if n % LARGE_EVERY == LARGE_EVERY - 1 {
        let pad = 4096 + as_usize(n.wrapping_mul(2_654_435_761) % 8192);
        format!("{id} {}", "x".repeat(pad))
    } else {
        id.to_owned()
    }
}

fn as_usize(n: u64) -> usize {
    usize::try_from(n).unwrap()
}

/// The event id a todo's text starts with.
pub(crate) fn event_id(text: &str) -> &str {
    text.split(' ').next().unwrap_or(text)
}
