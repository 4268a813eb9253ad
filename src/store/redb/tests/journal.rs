//! Which deltas are kept: those the rebuild needs (after the latest
//! checkpoint) and the journal window each step names; the store bounds
//! nothing itself, the session's journal does.

use serde_json::json;

use super::*;

#[test]
fn the_state_is_rebuilt_from_the_latest_checkpoint_and_the_deltas_after_it() {
    let tmp = TempDb::new("rebuild");
    let store = open(tmp.options());
    let (k, e) = (key('b'), Epoch::new("e"));
    ok(store.append(&[first(&k, &e), delta_step(&k, &e, 1), delta_step(&k, &e, 2)]));
    // The checkpoint at 3 holds a mark no delta writes: it shows the
    // rebuild starts from it, not from seq 0.
    ok(store.append(&[Step {
        checkpoint: Some(json!({"n": 3, "mark": true})),
        ..delta_step(&k, &e, 3)
    }]));
    ok(store.append(&[delta_step(&k, &e, 4), delta_step(&k, &e, 5)]));
    let s = load(&store, &k);
    assert_eq!(s.state, json!({"n": 5, "mark": true}));
    assert_eq!(s.seq, 5);
    assert_eq!(seqs(&s.journal), vec![1, 2, 3, 4, 5]);
}

#[test]
fn the_store_keeps_the_journal_window_the_step_names_and_deletes_deltas_neither_it_nor_the_rebuild_needs(
) {
    let tmp = TempDb::new("journal-window");
    let store = open(tmp.options());
    let (k, e) = (key('c'), Epoch::new("e"));
    // Steps of a session whose journal holds its last 3 deltas.
    let last_three = |seq: u64| Step {
        journal_from: seq.saturating_sub(2).max(1),
        ..delta_step(&k, &e, seq)
    };
    ok(store.append(&[first(&k, &e)]));
    for seq in 1..=10 {
        ok(store.append(&[last_three(seq)]));
    }
    let s = load(&store, &k);
    assert_eq!(seqs(&s.journal), vec![8, 9, 10]);
    assert_eq!(s.state, json!({"n": 10}));
    // No checkpoint since seq 0: every delta is needed to rebuild.
    assert_eq!(delta_rows(&store, &k), 10);

    // After a checkpoint only the window is kept, in the same transaction.
    ok(store.append(&[Step {
        checkpoint: Some(json!({"n": 11})),
        ..last_three(11)
    }]));
    assert_eq!(delta_rows(&store, &k), 3);
    ok(store.append(&[last_three(12)]));
    assert_eq!(delta_rows(&store, &k), 3);
    let s = load(&store, &k);
    assert_eq!(seqs(&s.journal), vec![10, 11, 12]);
    assert_eq!(s.state, json!({"n": 12}));

    // A step naming an empty journal keeps only what the rebuild needs
    // (12 and 13, after the checkpoint at 11).
    ok(store.append(&[Step {
        journal_from: 14,
        ..delta_step(&k, &e, 13)
    }]));
    let s = load(&store, &k);
    assert!(s.journal.is_empty());
    assert_eq!(s.state, json!({"n": 13}));
    assert_eq!(delta_rows(&store, &k), 2);
}

#[test]
fn a_journal_bounded_by_bytes_in_the_session_is_bounded_on_disk_too() {
    let tmp = TempDb::new("journal-bytes");
    let size = delta(10).payload.get().len();
    let store = open(tmp.options());
    let (k, e) = (key('d'), Epoch::new("e"));
    ok(store.append(&[first(&k, &e)]));
    // Steps of a session whose journal holds 2.5 deltas' bytes, so its
    // last two (the jump to 10 restarts its journal). Every step
    // checkpoints, so only the journal keeps deltas; the jump from 0 to
    // 10 is allowed because it carries a checkpoint.
    for seq in 10..=15 {
        ok(store.append(&[Step {
            checkpoint: Some(json!({ "n": seq })),
            journal_from: (seq - 1).max(10),
            ..delta_step(&k, &e, seq)
        }]));
    }
    let s = load(&store, &k);
    assert_eq!(seqs(&s.journal), vec![14, 15]);
    assert_eq!(delta_rows(&store, &k), 2);

    // A delta bigger than the session's bound empties its journal: the
    // step names seq + 1. The state is still rebuilt from the delta.
    let big = json!({
        "seq": 16,
        "patch": [{"op": "add", "path": "/big", "value": "x".repeat(4 * size)}],
    });
    ok(store.append(&[Step {
        deltas: vec![raw_delta(16, big.to_string())],
        journal_from: 17,
        ..step(&k, &e, 16)
    }]));
    let s = load(&store, &k);
    assert!(s.journal.is_empty());
    assert_eq!(s.state["big"], json!("x".repeat(4 * size)));
    assert_eq!(s.seq, 16);
    assert_eq!(delta_rows(&store, &k), 1);
}

#[test]
fn a_window_reaching_below_the_deltas_kept_starts_at_the_first_kept_one() {
    let tmp = TempDb::new("journal-floor");
    let store = open(tmp.options());
    let (k, e) = (key('w'), Epoch::new("e"));
    // A session journal of one delta, and a checkpoint at 5: only delta 5
    // is kept.
    ok(store.append(&[first(&k, &e)]));
    for seq in 1..=5 {
        ok(store.append(&[Step {
            journal_from: seq,
            checkpoint: (seq == 5).then(|| json!({ "n": seq })),
            ..delta_step(&k, &e, seq)
        }]));
    }
    assert_eq!(delta_rows(&store, &k), 1);
    // A step naming deltas the store no longer holds (no session does)
    // gets the gapless journal it can have, and the key still loads.
    ok(store.append(&[delta_step(&k, &e, 6)]));
    let s = load(&store, &k);
    assert_eq!(seqs(&s.journal), vec![5, 6]);
    assert_eq!(s.state, json!({"n": 6}));
}
