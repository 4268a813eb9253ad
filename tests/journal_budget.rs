//! The journal budget (`--journal-total-bytes`): the journals of all live
//! sessions together stay within it. Past it, the largest journals lose
//! their oldest deltas first; a cursor behind them resumes by `snapshot`
//! with the right state, and every other cursor still by `replay`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{new_key, start_demo, Client, Mirror};
use serde_json::{json, Value};
use tabhub::Config;

/// A todo text long enough that each `add_todo` delta is a few hundred
/// bytes.
fn text(i: usize) -> String {
    format!("todo {i:03} {}", "x".repeat(200))
}

/// Adds `n` todos to `key` and brings `mirror` up to `seq`.
async fn add_todos(client: &mut Client, key: &str, mirror: &mut Mirror, from: usize, n: usize) {
    for i in from..from + n {
        let r = client
            .event(key, "add_todo", json!({"text": text(i)}))
            .await;
        assert_eq!(r["status"], "ok", "{r}");
    }
    client.catch_up(key, mirror, (from + n) as u64).await;
}

fn seqs(reply: &Value) -> Vec<u64> {
    reply["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["seq"].as_u64().unwrap())
        .collect()
}

#[actix_rt::test]
async fn past_the_budget_the_largest_journal_loses_its_oldest_deltas_and_small_ones_keep_theirs() {
    let mut config = Config::default();
    // Room for about 16 of these deltas (each ~280 bytes with its entry).
    config.journal_total_bytes = 16 * 280;
    let (server, _store) = start_demo(config);

    // A quiet session: three deltas, and a tab left behind after the first.
    let quiet = new_key();
    let mut q = Client::connect(&server, "q").await;
    let (mut q_live, _) = q.join_mirror(&quiet, None).await;
    add_todos(&mut q, &quiet, &mut q_live, 0, 1).await;
    let q_behind = q_live.clone();
    add_todos(&mut q, &quiet, &mut q_live, 1, 2).await;

    // A busy session: forty deltas, far more than the budget holds.
    let busy = new_key();
    let mut b = Client::connect(&server, "b").await;
    let (mut b_live, _) = b.join_mirror(&busy, None).await;
    add_todos(&mut b, &busy, &mut b_live, 0, 1).await;
    let b_far_behind = b_live.clone();
    add_todos(&mut b, &busy, &mut b_live, 1, 37).await;
    let b_just_behind = b_live.clone();
    add_todos(&mut b, &busy, &mut b_live, 38, 2).await;

    // The busy journal lost its oldest deltas: a cursor at seq 1 resumes by
    // snapshot, and the snapshot is the live state.
    let mut late = Client::connect(&server, "late").await;
    let r = late.join(&busy, Some(b_far_behind.cursor())).await;
    assert_eq!(r["resume"], "snapshot", "{r}");
    let mut resumed = b_far_behind.clone();
    resumed.apply_join(&r);
    assert_eq!(resumed.state, b_live.state);
    assert_eq!(resumed.todo_texts().len(), 40);

    // Its newest deltas are still there.
    let mut recent = Client::connect(&server, "recent").await;
    let r = recent.join(&busy, Some(b_just_behind.cursor())).await;
    assert_eq!(r["resume"], "replay", "{r}");
    assert_eq!(seqs(&r), vec![39, 40]);

    // The quiet journal, the smallest, kept all it had.
    let mut back = Client::connect(&server, "back").await;
    let r = back.join(&quiet, Some(q_behind.cursor())).await;
    assert_eq!(r["resume"], "replay", "{r}");
    assert_eq!(seqs(&r), vec![2, 3]);
    let mut resumed = q_behind.clone();
    resumed.apply_join(&r);
    assert_eq!(resumed.state, q_live.state);
}

#[actix_rt::test]
async fn with_no_budget_every_journal_keeps_its_own_window() {
    let mut config = Config::default();
    config.journal_total_bytes = 0;
    let (server, _store) = start_demo(config);
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let (mut live, _) = a.join_mirror(&key, None).await;
    add_todos(&mut a, &key, &mut live, 0, 1).await;
    let behind = live.clone();
    add_todos(&mut a, &key, &mut live, 1, 39).await;
    let mut b = Client::connect(&server, "b").await;
    let r = b.join(&key, Some(behind.cursor())).await;
    assert_eq!(r["resume"], "replay", "{r}");
    assert_eq!(seqs(&r), (2..=40).collect::<Vec<u64>>());
}
