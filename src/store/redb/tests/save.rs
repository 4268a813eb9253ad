//! Whole-session saves, summary reads, and corrupt records.

use redb::TableDefinition;
use serde_json::json;

use super::super::tables::{CHECKPOINTS, DELTAS, META};
use super::*;
use crate::store::SavedTask;

#[test]
fn save_replaces_everything_and_load_returns_it() {
    let tmp = TempDb::new("save");
    let store = open(RedbOptions {
        recent_events: 2,
        ..tmp.options()
    });
    let (k, e) = (key('f'), Epoch::new("e"));
    ok(store.append(&[
        first(&k, &e),
        Step {
            chains_added: vec![chain("old")],
            summary: Some(json!("old")),
            ..delta_step(&k, &e, 1)
        },
    ]));
    let e2 = Epoch::new("e2");
    let saved = SavedSession {
        state: json!({"n": 9, "saved": true}),
        seq: 9,
        epoch: Some(e2.clone()),
        // The session's journal (already bounded) is kept but for a gap:
        // 5 is not followed by 6, so only the gapless tail ending at 9 is.
        journal: vec![delta(5), delta(7), delta(8), delta(9)],
        pending_chains: vec![chain("n1"), chain("n2")],
        recent: vec![
            ("a".into(), Outcome::Ok { seq: 1, data: None }),
            ("b".into(), Outcome::Ok { seq: 2, data: None }),
            ("c".into(), Outcome::Ok { seq: 3, data: None }),
        ],
        summary: json!({"saved": 1}),
        recent_chains: vec![("n0".into(), Outcome::Ok { seq: 4, data: None })],
        tasks: vec![SavedTask {
            key: "job".into(),
            input: json!({"steps": 3}),
        }],
    };
    ok(store.save(&k, &saved));
    drop(store);
    let store = open(RedbOptions {
        recent_events: 2,
        ..tmp.options()
    });
    let s = load(&store, &k);
    assert_eq!(s.state, saved.state);
    assert_eq!(s.seq, 9);
    assert_eq!(s.epoch, Some(e2.clone()));
    assert_eq!(seqs(&s.journal), vec![7, 8, 9]);
    assert_eq!(delta_rows(&store, &k), 3);
    let ids: Vec<_> = s.pending_chains.iter().map(|c| c.chain.as_str()).collect();
    assert_eq!(ids, vec!["n1", "n2"]);
    assert_eq!(s.recent, saved.recent[1..].to_vec());
    assert_eq!(s.recent_chains, saved.recent_chains);
    assert_eq!(s.summary, json!({"saved": 1}));

    // Appending continues from the saved session, here one whose journal
    // holds its last two deltas.
    ok(store.append(&[Step {
        journal_from: 9,
        ..delta_step(&k, &e2, 10)
    }]));
    let s = load(&store, &k);
    assert_eq!(s.state, json!({"n": 10, "saved": true}));
    assert_eq!(seqs(&s.journal), vec![9, 10]);
    assert_eq!(delta_rows(&store, &k), 2);

    // Saving a key never written, without an epoch: no journal.
    let k2 = key('g');
    ok(store.save(
        &k2,
        &SavedSession {
            epoch: None,
            ..saved.clone()
        },
    ));
    let s = load(&store, &k2);
    assert_eq!(s.epoch, None);
    assert!(s.journal.is_empty());
    assert_eq!(s.state, saved.state);
    assert_eq!(delta_rows(&store, &k2), 0);
}

/// Writes `bytes` as `key`'s row of a key-only table.
fn write_garbage(
    store: &RedbStore,
    def: TableDefinition<&str, &[u8]>,
    k: &SessionKey,
    bytes: &[u8],
) {
    let txn = store.begin_write("test").unwrap_or_else(|e| panic!("{e}"));
    {
        let mut table = txn.open_table(def).unwrap_or_else(|e| panic!("{e}"));
        table
            .insert(k.as_str(), bytes)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    txn.commit().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn load_summary_reads_the_meta_without_a_full_load() {
    let tmp = TempDb::new("summary");
    let store = open(tmp.options());
    let (k, e) = (key('h'), Epoch::new("e"));
    ok(store.append(&[Step {
        summary: Some(json!({"count": 1})),
        ..first(&k, &e)
    }]));
    // A broken checkpoint fails a full load, not the summary.
    write_garbage(&store, CHECKPOINTS, &k, b"\xff not json");
    assert!(store.load(&k).is_err());
    assert_eq!(ok(store.load_summary(&k)), Some(json!({"count": 1})));
}

#[test]
fn a_corrupt_record_of_one_key_fails_that_key_only() {
    let tmp = TempDb::new("corrupt");
    let store = open(tmp.options());
    let e = Epoch::new("e");
    let (good, bad_meta, bad_checkpoint, bad_delta) = (key('i'), key('j'), key('k'), key('l'));
    for k in [&good, &bad_meta, &bad_checkpoint, &bad_delta] {
        ok(store.append(&[first(k, &e), delta_step(k, &e, 1)]));
    }
    write_garbage(&store, META, &bad_meta, b"{\"seq\": \"garbage");
    write_garbage(&store, CHECKPOINTS, &bad_checkpoint, b"[1, 2]");
    {
        let txn = store.begin_write("test").unwrap_or_else(|e| panic!("{e}"));
        {
            let mut t = txn.open_table(DELTAS).unwrap_or_else(|e| panic!("{e}"));
            t.insert(
                (bad_delta.as_str(), 1),
                b"{\"seq\":1,\"patch\":7}".as_slice(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        txn.commit().unwrap_or_else(|e| panic!("{e}"));
    }

    let err = |k: &SessionKey| match store.load(k) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{k} loaded"),
    };
    assert!(err(&bad_meta).contains("meta of"), "{}", err(&bad_meta));
    assert!(err(&bad_checkpoint).contains("checkpoint of"));
    assert!(err(&bad_delta).contains("delta 1 of"));
    assert!(store.load_summary(&bad_meta).is_err());
    // No message carries a whole key (keys are secrets).
    assert!(!err(&bad_meta).contains(bad_meta.as_str()));
    assert_eq!(load(&store, &good).state, json!({"n": 1}));
    // The broken keys' failures do not block appends to others.
    ok(store.append(&[delta_step(&good, &e, 2)]));
    assert_eq!(load(&store, &good).state, json!({"n": 2}));
}
