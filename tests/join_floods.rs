//! Join floods: a connection re-joining one topic in a loop costs the app
//! one authorize at a time, and joins past the connection's bucket
//! (`--join-rate-per-sec`, `--join-burst`) get `rate_limited` while other
//! connections carry on.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{new_key, start_server, Client};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tabhub::{App, AppError, AuthorizeError, Config, Context, JoinRequest, MemoryStore};
use tokio::sync::{watch, Notify};

/// What the test sees of the app's authorize calls, and the gate they
/// wait at.
#[derive(Default)]
struct Calls {
    /// Calls made so far.
    made: AtomicUsize,
    /// Calls in flight now, and the most ever at once.
    in_flight: AtomicUsize,
    most_at_once: AtomicUsize,
    /// Told each time a call starts.
    started: Notify,
    /// `true` lets every call (waiting or to come) answer.
    open: Option<watch::Sender<bool>>,
}

impl Calls {
    fn new(open: bool) -> Arc<Calls> {
        Arc::new(Calls {
            open: Some(watch::channel(open).0),
            ..Calls::default()
        })
    }

    fn open(&self) {
        if let Some(open) = &self.open {
            open.send_replace(true);
        }
    }
}

/// Counts its authorize calls and holds each until the gate opens; then
/// refuses joins whose params say `"token": "no"`.
struct Counted(Arc<Calls>);

#[derive(Default, Serialize, Deserialize)]
struct Count {
    n: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum Bump {
    Bump {},
}

impl App for Counted {
    type State = Count;
    type Event = Bump;
    type Identity = ();

    async fn authorize(&self, join: &JoinRequest<'_>) -> Result<(), AuthorizeError> {
        let calls = &self.0;
        calls.made.fetch_add(1, Ordering::SeqCst);
        let now = calls.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        calls.most_at_once.fetch_max(now, Ordering::SeqCst);
        calls.started.notify_one();
        if let Some(open) = &calls.open {
            let mut open = open.subscribe();
            let _ = open.wait_for(|open| *open).await;
        }
        calls.in_flight.fetch_sub(1, Ordering::SeqCst);
        if join.params.get("token") == Some(&json!("no")) {
            Err(AuthorizeError::refused("the token says no"))
        } else {
            Ok(())
        }
    }

    async fn handle(
        &self,
        state: &mut Count,
        _: Bump,
        _: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        state.n += 1;
        Ok(())
    }
}

/// A heartbeat round trip: every frame sent before it has been handled,
/// and every reply to them is buffered.
async fn round_trip(c: &mut Client) {
    let hb = c.push("phoenix", "heartbeat", json!({})).await;
    assert_eq!(c.reply(&hb).await["status"], "ok");
}

/// The refs of the join replies buffered on `c`.
fn join_replies(c: &mut Client, topic: &str) -> Vec<String> {
    c.drain_buffer()
        .into_iter()
        .filter(|m| m.topic == topic && m.event == "phx_reply")
        .filter_map(|m| m.reference)
        .collect()
}

/// The counted app on a real server with a memory store.
fn start_counted(calls: &Arc<Calls>, config: Config) -> common::Server<Counted> {
    start_server(Counted(calls.clone()), config, Arc::new(MemoryStore::new()))
}

#[actix_rt::test]
async fn fifty_rejoins_of_one_topic_while_authorize_decides_make_one_call_and_the_last_join_gets_its_verdict(
) {
    let calls = Calls::new(false);
    let server = start_counted(&calls, Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let started = calls.started.notified();
    let mut refs = Vec::new();
    for _ in 0..50 {
        refs.push(a.send_join(&key, json!({"cursor": null})).await);
    }
    started.await;
    round_trip(&mut a).await;
    assert_eq!(calls.made.load(Ordering::SeqCst), 1, "one call decides");

    calls.open();
    let last = refs.last().unwrap();
    let reply = a.reply(last).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    round_trip(&mut a).await;
    assert_eq!(
        join_replies(&mut a, &topic),
        Vec::<String>::new(),
        "the replaced joins get no reply"
    );
    assert_eq!(calls.made.load(Ordering::SeqCst), 1);
    let r = a.event(&key, "bump", json!({})).await;
    assert_eq!(r["response"]["seq"], 1, "joined: {r}");
}

#[actix_rt::test]
async fn a_rejoin_with_other_params_while_one_decides_is_asked_about_after_it_never_beside_it() {
    let calls = Calls::new(false);
    let server = start_counted(&calls, Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let started = calls.started.notified();
    a.send_join(&key, json!({"token": "yes"})).await;
    started.await;
    for _ in 0..10 {
        a.send_join(&key, json!({"token": "yes"})).await;
    }
    let last = a.send_join(&key, json!({"token": "no"})).await;
    round_trip(&mut a).await;
    assert_eq!(calls.made.load(Ordering::SeqCst), 1);

    calls.open();
    // The verdict on "yes" was not about the newest join: it is asked
    // again, once, with its own params, and refused.
    let reply = a.reply(&last).await;
    assert_eq!(reply["response"]["reason"], "unauthorized", "{reply}");
    assert_eq!(calls.made.load(Ordering::SeqCst), 2);
    assert_eq!(calls.most_at_once.load(Ordering::SeqCst), 1);
}

#[actix_rt::test]
async fn joins_past_the_connections_bucket_get_rate_limited_and_other_connections_are_unaffected() {
    let calls = Calls::new(true);
    let mut config = Config::default();
    config.join_rate_per_sec = 1;
    config.join_burst = 3;
    let server = start_counted(&calls, config);
    let keys = [new_key(), new_key(), new_key()];
    let mut a = Client::connect(&server, "a").await;
    for key in &keys {
        a.join(key, None).await;
    }
    // The bucket is empty (it refills at one a second).
    let topic = format!("session:{}", keys[0]);
    let first_ref = a.join_refs[&topic].clone();
    let r = a.join_with(&keys[0], json!({"cursor": null})).await;
    assert_eq!(r["status"], "error");
    assert_eq!(r["response"]["reason"], "rate_limited", "{r}");
    assert!(
        r["response"]["message"]
            .as_str()
            .unwrap()
            .contains("too many joins"),
        "{r}"
    );
    assert_eq!(calls.made.load(Ordering::SeqCst), 3, "no call for it");
    // The refused rejoin left the earlier join as it was: it still pushes.
    a.join_refs.insert(topic, first_ref);
    let r = a.event(&keys[0], "bump", json!({})).await;
    assert_eq!(r["response"]["seq"], 1, "{r}");

    // Another connection has a bucket of its own.
    let mut b = Client::connect(&server, "b").await;
    for key in &keys {
        b.join(key, None).await;
    }
    assert_eq!(
        b.event(&keys[0], "bump", json!({})).await["response"]["seq"],
        2
    );
}
