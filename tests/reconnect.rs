//! Identity is the key, not the socket: a reconnect of the same page takes
//! over, a duplicated tab shares the session, and cursors resume by
//! `current`, `replay` or `snapshot`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{new_key, start_demo, Client, Mirror};
use serde_json::json;
use tabhub::Config;

#[actix_rt::test]
async fn a_reconnect_with_the_same_tab_id_takes_over_and_the_job_keeps_running_and_is_cancellable()
{
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut old = Client::connect(&server, "page-1").await;
    let (mut mirror, first) = old.join_mirror(&key, None).await;
    assert_eq!(first["leader"], true);
    let r = old
        .event(&key, "add_todo", json!({"text": "keep me"}))
        .await;
    assert_eq!(r["status"], "ok");
    let r = old
        .event(
            &key,
            "start_job",
            json!({"key": "j1", "steps": 200, "step_ms": 20}),
        )
        .await;
    assert_eq!(r["status"], "ok", "{r}");
    old.catch_up(&key, &mut mirror, 2).await;

    // The old socket is still open (its death not noticed) when the same
    // page reconnects on a new one.
    let mut new = Client::connect(&server, "page-1").await;
    let response = new.join(&key, Some(mirror.cursor())).await;
    assert_eq!(
        response["epoch"].as_str(),
        Some(mirror.epoch.as_str()),
        "same session, same epoch"
    );
    assert_ne!(
        response["resume"], "snapshot",
        "a takeover resumes from the cursor"
    );
    assert_eq!(response["tab_id"], "page-1");
    assert_eq!(
        response["leader"], true,
        "the leader role moves with the tab"
    );
    assert_eq!(response["tabs"], 1, "a takeover is not a second tab");
    mirror.apply_join(&response);
    assert_eq!(old.expect_close().await, 4001);

    // The job started on the old connection keeps running ...
    let progressed = mirror.state["jobs"]["j1"]["progress"].as_u64().unwrap();
    loop {
        let d = new.wait_event(&topic, "delta").await;
        mirror.apply_delta(&d.payload);
        assert_eq!(
            d.payload["event_id"],
            serde_json::Value::Null,
            "task updates carry no event id"
        );
        if mirror.state["jobs"]["j1"]["progress"].as_u64().unwrap() > progressed {
            break;
        }
    }
    assert_eq!(mirror.state["todos"][0]["text"], "keep me");
    // ... and is cancellable from the new connection.
    let r = new.push(&topic, "cancel", json!({"task": "j1"})).await;
    assert_eq!(
        new.reply(&r).await,
        json!({"status": "ok", "response": {"cancelled": true}})
    );
    let task = new.wait_event(&topic, "task").await;
    assert_eq!(task.payload, json!({"task": "j1", "status": "cancelled"}));
    let r = new.event(&key, "toast", json!({"text": "sync"})).await;
    new.catch_up(&key, &mut mirror, r["response"]["seq"].as_u64().unwrap())
        .await;
    assert_eq!(mirror.state["jobs"]["j1"]["status"], "cancelled");
    // Cancelling again finds nothing running.
    let r = new.push(&topic, "cancel", json!({"task": "j1"})).await;
    assert_eq!(new.reply(&r).await["response"]["cancelled"], false);
}

#[actix_rt::test]
async fn a_duplicated_tab_shares_the_session_with_its_own_tab_id() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "original").await;
    let (mut ma, _) = a.join_mirror(&key, None).await;
    let r = a.event(&key, "add_todo", json!({"text": "shared"})).await;
    a.catch_up(&key, &mut ma, r["response"]["seq"].as_u64().unwrap())
        .await;

    let mut dup = Client::connect(&server, "duplicate").await;
    let (md, response) = dup.join_mirror(&key, None).await;
    assert_eq!(response["tab_id"], "duplicate");
    assert_eq!(response["tabs"], 2);
    assert_eq!(response["leader"], false);
    assert_eq!(md.state, ma.state);
}

#[actix_rt::test]
async fn with_new_key_on_duplicate_a_second_tab_gets_a_new_key_but_a_reconnect_is_never_refused() {
    let mut config = Config::default();
    config.new_key_on_duplicate = true;
    let (server, _store) = start_demo(config);
    let key = new_key();
    let mut a = Client::connect(&server, "original").await;
    let (ma, _) = a.join_mirror(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "mine"})).await;

    let mut dup = Client::connect(&server, "duplicate").await;
    let refused = dup.join_with(&key, json!({"cursor": null})).await;
    assert_eq!(refused["status"], "error");
    assert_eq!(refused["response"]["reason"], "new_key");
    let fresh = refused["response"]["new_key"].as_str().unwrap().to_owned();
    assert!(tabhub::SessionKey::parse(&fresh).is_ok() && fresh != key);
    let (fresh_mirror, _) = dup.join_mirror(&fresh, None).await;
    assert_eq!(
        fresh_mirror.state["todos"],
        json!([]),
        "the new key starts empty"
    );

    // The original page reconnecting (same tab_id) takes over as usual.
    let mut again = Client::connect(&server, "original").await;
    let response = again.join(&key, Some(ma.cursor())).await;
    assert_ne!(response["resume"], "snapshot");
    assert_eq!(response["seq"], 1);
    assert_eq!(a.expect_close().await, 4001);
}

/// Builds a session at seq `n` (one todo per seq) and returns its mirror.
async fn session_at(client: &mut Client, key: &str, n: u64) -> Mirror {
    let (mut m, _) = client.join_mirror(key, None).await;
    for i in 0..n {
        client
            .event(key, "add_todo", json!({"text": format!("t{i}")}))
            .await;
    }
    client.catch_up(key, &mut m, n).await;
    m
}

#[actix_rt::test]
async fn an_up_to_date_cursor_resumes_as_current_with_nothing_else_sent() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let m = session_at(&mut a, &key, 3).await;
    let mut b = Client::connect(&server, "b").await;
    let r = b.join(&key, Some(m.cursor())).await;
    assert_eq!(r["resume"], "current");
    assert_eq!(r["seq"], 3);
    assert!(r.get("deltas").is_none() && r.get("state").is_none(), "{r}");
}

#[actix_rt::test]
async fn a_cursor_within_the_journal_replays_every_missed_delta_in_order() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let (mut early, _) = a.join_mirror(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "t0"})).await;
    a.catch_up(&key, &mut early, 1).await;
    let behind = early.clone();
    for i in 1..5 {
        a.event(&key, "add_todo", json!({"text": format!("t{i}")}))
            .await;
    }
    a.catch_up(&key, &mut early, 5).await;

    let mut b = Client::connect(&server, "b").await;
    let r = b.join(&key, Some(behind.cursor())).await;
    assert_eq!(r["resume"], "replay");
    let seqs: Vec<u64> = r["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3, 4, 5]);
    let mut resumed = behind.clone();
    resumed.apply_join(&r);
    assert_eq!(resumed.state, early.state);
}

#[actix_rt::test]
async fn no_cursor_an_old_epoch_or_a_gap_beyond_the_journal_gets_a_snapshot() {
    let mut config = Config::default();
    config.journal_len = 3;
    let (server, _store) = start_demo(config);
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let (mut m, _) = a.join_mirror(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "t0"})).await;
    a.catch_up(&key, &mut m, 1).await;
    let old_cursor = m.cursor();
    for i in 1..10 {
        a.event(&key, "add_todo", json!({"text": format!("t{i}")}))
            .await;
    }
    a.catch_up(&key, &mut m, 10).await;

    let mut b = Client::connect(&server, "b").await;
    let no_cursor = b.join(&key, None).await;
    assert_eq!(no_cursor["resume"], "snapshot");
    assert_eq!(no_cursor["state"], m.state);

    let other_epoch = b
        .join(&key, Some(json!({"epoch": "some-other-epoch", "seq": 10})))
        .await;
    assert_eq!(other_epoch["resume"], "snapshot");

    // Cursor at seq 1, journal holds only 8..=10: the gap cannot be replayed.
    let gap = b.join(&key, Some(old_cursor)).await;
    assert_eq!(gap["resume"], "snapshot");
    assert_eq!(gap["seq"], 10);
    assert_eq!(gap["state"], m.state);

    // Still within the journal: replay.
    let near = b
        .join(&key, Some(json!({"epoch": m.epoch, "seq": 7})))
        .await;
    assert_eq!(near["resume"], "replay");
    assert_eq!(near["deltas"].as_array().unwrap().len(), 3);
}
