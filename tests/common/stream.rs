//! Tabs that stream events until their server dies: what each holds and
//! which of its events were acknowledged (the crash tests, with redb or
//! Redis, check both after every kill).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use super::process::start_tabhub;
use super::{new_key, Client, Mirror, WAIT};

/// Sessions the crash scenario streams to, and tabs per session.
const SESSIONS: usize = 3;
const TABS: usize = 2;

/// How a tab joins again after its server was killed.
#[derive(Clone, Copy)]
pub enum Rejoin {
    /// Once: the restarted server serves the session at once (redb).
    Once,
    /// Until the join is answered ok, while it gets `store_error`: with
    /// Redis, the killed node still owns the session until its lease runs
    /// out.
    WhileOwnedElsewhere,
}

impl Rejoin {
    /// Joins `key` from `cursor` as this says; the join reply's response.
    pub async fn join(self, c: &mut Client, key: &str, cursor: Option<Value>) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let reply = c.join_with(key, json!({ "cursor": cursor })).await;
            let refused = reply["response"]["reason"] == "store_error";
            if reply["status"] == "ok" || !refused || matches!(self, Rejoin::Once) {
                assert_eq!(reply["status"], "ok", "join refused: {reply}");
                return reply["response"].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still refused: {reply}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One tab streaming events across server deaths: what it holds and
/// which of its events were acknowledged (since its `acked` was cleared).
pub struct Tab {
    pub key: String,
    pub name: String,
    pub mirror: Mirror,
    pub acked: HashSet<String>,
}

/// Pushes `add_todo` events (2 in flight) and applies the deltas of the
/// current join until the join or the connection ends: the client if the
/// join ended with `phx_error` (the connection is still up), or `None` if
/// the connection died (its server was killed). Every reply must be ok.
pub async fn drive(mut client: Client, mut tab: Tab, round: usize) -> (Tab, Option<Client>) {
    let topic = format!("session:{}", tab.key);
    let join_ref = client.join_refs.get(&topic).cloned();
    let mut in_flight = HashMap::new();
    let mut n = 0;
    loop {
        while in_flight.len() < 2 {
            let text = format!("{}-r{round}-{n}", tab.name);
            n += 1;
            let id = uuid::Uuid::new_v4().to_string();
            let event = json!({"id": id, "name": "add_todo", "payload": {"text": text}});
            let Some(r) = client.try_push(&topic, "event", event).await else {
                return (tab, None);
            };
            in_flight.insert(r, text);
        }
        let Some(m) = client.try_next_msg().await else {
            return (tab, None);
        };
        if m.topic != topic || m.join_ref != join_ref {
            continue;
        }
        match m.event.as_str() {
            "delta" => tab.mirror.apply_delta(&m.payload),
            "phx_error" => return (tab, Some(client)),
            "phx_reply" => {
                if let Some(text) = m.reference.as_deref().and_then(|r| in_flight.remove(r)) {
                    assert_eq!(m.payload["status"], "ok", "{}", m.payload);
                    tab.acked.insert(text);
                }
            }
            _ => {}
        }
    }
}

/// The crash scenario: the `tabhub` binary started with `args` is killed
/// with SIGKILL mid-stream `rounds` times and started again; every event
/// that got an ok reply is in the state, seqs never go back, and tabs
/// resume by replay (or current), never by snapshot.
pub async fn killed_mid_stream(args: &[&str], rounds: usize, rejoin: Rejoin) {
    let keys: Vec<String> = (0..SESSIONS).map(|_| new_key()).collect();
    let mut tabs: Vec<Tab> = keys
        .iter()
        .flat_map(|k| (0..TABS).map(move |t| (k.clone(), t)))
        .map(|(key, t)| Tab {
            name: format!("{}-t{t}", &key[..6]),
            key,
            mirror: Mirror::default(),
            acked: HashSet::new(),
        })
        .collect();
    let mut acked_by_key: std::collections::HashMap<String, HashSet<String>> = Default::default();
    let mut last_seq: std::collections::HashMap<String, u64> = Default::default();

    for round in 0..=rounds {
        let (mut server, addr) = start_tabhub(args);
        let mut clients = Vec::new();
        for tab in &mut tabs {
            let url = format!(
                "http://{addr}/socket/websocket?vsn=2.0.0&tab_id={}",
                tab.name
            );
            let mut c = Client::connect_url(&url, &tab.name).await;
            let cursor = (round > 0).then(|| tab.mirror.cursor());
            let r = rejoin.join(&mut c, &tab.key, cursor).await;
            if round > 0 {
                assert_ne!(
                    r["resume"], "snapshot",
                    "round {round}: a restart keeps epoch and journal: {r}"
                );
            }
            tab.mirror.apply_join(&r);
            let seq = r["seq"].as_u64().unwrap();
            let before = last_seq.get(&tab.key).copied().unwrap_or(0);
            assert!(seq >= before, "seq went back from {before} to {seq}");
            last_seq.insert(tab.key.clone(), seq);
            // Every event acknowledged before the crash is in the state.
            let texts: HashSet<&str> = tab.mirror.todo_texts().into_iter().collect();
            for text in acked_by_key.get(&tab.key).into_iter().flatten() {
                assert!(
                    texts.contains(text.as_str()),
                    "round {round}: acknowledged {text} was lost"
                );
            }
            clients.push(c);
        }
        if round == rounds {
            server.terminate();
            break;
        }
        // Drive all tabs; kill the server at a random moment.
        let kill_after = Duration::from_millis(150 + (uuid::Uuid::new_v4().as_u128() % 500) as u64);
        let drivers = join_all(
            clients
                .into_iter()
                .zip(tabs.drain(..))
                .map(|(c, t)| async move { drive(c, t, round).await.0 }),
        );
        let killer = async {
            tokio::time::sleep(kill_after).await;
            server.kill_now();
        };
        let (driven, ()) = futures_util::future::join(drivers, killer).await;
        tabs = driven;
        let mut acked_this_round = 0;
        for tab in &tabs {
            acked_this_round += tab.acked.len();
            acked_by_key
                .entry(tab.key.clone())
                .or_default()
                .extend(tab.acked.iter().cloned());
        }
        assert!(
            acked_this_round > 0,
            "round {round}: some events were acknowledged before the kill"
        );
        eprintln!("round {round}: killed after {kill_after:?}; {acked_this_round} events acknowledged so far this round");
        for tab in &mut tabs {
            tab.acked.clear();
        }
    }
}
