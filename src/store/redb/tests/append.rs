//! Appending steps: what is written comes back, many keys share one
//! transaction, and a batch breaking the contract writes nothing.

use serde_json::json;

use super::*;
use crate::store::SavedTask;

#[test]
fn a_round_trip_through_a_reopened_file_gives_back_everything_written() {
    let tmp = TempDb::new("round-trip");
    let (k, e) = (key('a'), Epoch::new("epoch-1"));
    {
        let store = open(tmp.options());
        ok(store.append(&[first(&k, &e)]));
        ok(store.append(&[
            Step {
                chains_added: vec![chain("c1"), chain("c2"), chain("c3")],
                ..delta_step(&k, &e, 1)
            },
            Step {
                chain: Some(("c1".into(), Outcome::Ok { seq: 2, data: None })),
                chains_removed: vec![ChainId::new("c1")],
                summary: Some(json!({"title": "two"})),
                ..delta_step(&k, &e, 2)
            },
        ]));
        ok(store.append(&[Step {
            event: Some((
                "bad".into(),
                Outcome::error(crate::protocol::Reason::InvalidPayload, "nope"),
            )),
            ..step(&k, &e, 2)
        }]));
        ok(store.append(&[delta_step(&k, &e, 3)]));
    }
    let store = open(tmp.options());
    let s = load(&store, &k);
    assert_eq!(s.state, json!({"n": 3}));
    assert_eq!(s.seq, 3);
    assert_eq!(s.epoch, Some(e));
    assert_eq!(seqs(&s.journal), vec![1, 2, 3]);
    assert_eq!(s.journal[2].payload.get(), delta(3).payload.get());
    assert_eq!(
        s.recent,
        vec![
            ("ev1".into(), Outcome::Ok { seq: 1, data: None }),
            ("ev2".into(), Outcome::Ok { seq: 2, data: None }),
            (
                "bad".into(),
                Outcome::error(crate::protocol::Reason::InvalidPayload, "nope")
            ),
            ("ev3".into(), Outcome::Ok { seq: 3, data: None }),
        ]
    );
    assert_eq!(
        s.recent_chains,
        vec![("c1".into(), Outcome::Ok { seq: 2, data: None })]
    );
    let pending: Vec<_> = s
        .pending_chains
        .iter()
        .map(|c| (c.chain.as_str(), c.name.as_str(), c.payload.clone()))
        .collect();
    assert_eq!(
        pending,
        vec![
            ("c2", "next_c2", json!({"id": "c2"})),
            ("c3", "next_c3", json!({"id": "c3"}))
        ]
    );
    assert_eq!(s.summary, json!({"title": "two"}));
}

#[test]
fn a_key_never_written_loads_as_none() {
    let tmp = TempDb::new("none");
    let store = open(tmp.options());
    assert!(ok(store.load(&key('z'))).is_none());
    assert!(ok(store.load_summary(&key('z'))).is_none());
}

#[test]
fn a_step_with_several_deltas_lands_whole_and_gaps_within_a_step_are_refused() {
    let tmp = TempDb::new("multi");
    let store = open(tmp.options());
    let (k, e) = (key('m'), Epoch::new("e"));
    // A handler that also cancelled a task: two deltas in one step.
    ok(store.append(&[
        first(&k, &e),
        Step {
            deltas: vec![delta(1), delta(2)],
            ..step(&k, &e, 2)
        },
    ]));
    let s = load(&store, &k);
    assert_eq!((s.seq, s.state.clone()), (2, json!({"n": 2})));
    assert_eq!(seqs(&s.journal), vec![1, 2]);
    let gap = Step {
        deltas: vec![delta(3), delta(5)],
        ..step(&k, &e, 5)
    };
    assert!(store.append(&[gap]).is_err());
    assert_eq!(load(&store, &k).seq, 2, "a refused batch wrote nothing");
}

#[test]
fn sessions_with_running_restartable_tasks_are_listed() {
    let tmp = TempDb::new("with-tasks");
    let store = open(tmp.options());
    let e = Epoch::new("e");
    let task = SavedTask {
        key: "job".into(),
        input: json!({}),
    };
    let (busy, idle) = (key('x'), key('y'));
    ok(store.append(&[
        first(&busy, &e),
        Step {
            tasks_started: vec![task.clone()],
            ..delta_step(&busy, &e, 1)
        },
        first(&idle, &e),
        Step {
            tasks_started: vec![task],
            ..delta_step(&idle, &e, 1)
        },
        Step {
            tasks_ended: vec!["job".into()],
            ..delta_step(&idle, &e, 2)
        },
    ]));
    assert_eq!(ok(store.sessions_with_tasks()), vec![busy]);
}

#[test]
fn restartable_tasks_are_kept_while_running_and_forgotten_when_ended() {
    let tmp = TempDb::new("tasks");
    let store = open(tmp.options());
    let (k, e) = (key('t'), Epoch::new("e"));
    let started = |task: &str| SavedTask {
        key: task.into(),
        input: json!({"task": task}),
    };
    ok(store.append(&[
        first(&k, &e),
        Step {
            tasks_started: vec![started("a"), started("b")],
            ..delta_step(&k, &e, 1)
        },
        Step {
            tasks_ended: vec!["a".into()],
            ..delta_step(&k, &e, 2)
        },
    ]));
    assert_eq!(load(&store, &k).tasks, vec![started("b")]);
}

#[test]
fn recent_ids_keep_only_the_newest_recent_events() {
    let tmp = TempDb::new("recent");
    let store = open(RedbOptions {
        recent_events: 3,
        ..tmp.options()
    });
    let (k, e) = (key('e'), Epoch::new("e"));
    ok(store.append(&[first(&k, &e)]));
    for seq in 1..=5 {
        ok(store.append(&[Step {
            chain: Some((format!("c{seq}"), Outcome::Ok { seq, data: None })),
            ..delta_step(&k, &e, seq)
        }]));
    }
    let s = load(&store, &k);
    let ids: Vec<_> = s.recent.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, vec!["ev3", "ev4", "ev5"]);
    let ids: Vec<_> = s.recent_chains.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, vec!["c3", "c4", "c5"]);
    assert_eq!(recent_rows(&store, &k), (3, 3));
}

#[test]
fn one_append_with_steps_of_several_keys_lands_them_all() {
    let tmp = TempDb::new("batch");
    let store = open(tmp.options());
    let e = Epoch::new("e");
    let (a, b, c) = (key('m'), key('n'), key('o'));
    ok(store.append(&[
        first(&a, &e),
        first(&b, &e),
        delta_step(&a, &e, 1),
        first(&c, &e),
        delta_step(&b, &e, 1),
        delta_step(&a, &e, 2),
    ]));
    assert_eq!(load(&store, &a).state, json!({"n": 2}));
    assert_eq!(seqs(&load(&store, &a).journal), vec![1, 2]);
    assert_eq!(load(&store, &b).seq, 1);
    assert_eq!(load(&store, &c).seq, 0);
}

#[test]
fn a_batch_with_a_step_breaking_the_contract_writes_nothing() {
    let tmp = TempDb::new("contract");
    let store = open(tmp.options());
    let e = Epoch::new("e");
    let (a, b) = (key('p'), key('q'));
    // b's first step carries no checkpoint: the whole batch fails.
    let err = store
        .append(&[first(&a, &e), delta_step(&b, &e, 1)])
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert!(err.to_string().contains("carries no checkpoint"), "{err}");
    assert!(ok(store.load(&a)).is_none());
    assert!(ok(store.load(&b)).is_none());

    // A gap without a checkpoint is refused too.
    ok(store.append(&[first(&a, &e), delta_step(&a, &e, 1)]));
    assert!(store.append(&[delta_step(&a, &e, 3)]).is_err());
    assert_eq!(load(&store, &a).seq, 1);
    // A new epoch restarts the journal, not the state: no delta of the old
    // epoch is in it, even if the step's window (from 1) reaches back.
    let e2 = Epoch::new("e2");
    ok(store.append(&[delta_step(&a, &e2, 2)]));
    let s = load(&store, &a);
    assert_eq!(
        (s.state, s.epoch, seqs(&s.journal)),
        (json!({"n": 2}), Some(e2), vec![2])
    );
}
