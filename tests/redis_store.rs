//! The Redis store against a real `redis-server`: it keeps sessions as the
//! other stores do (whole saves, appended steps rebuilt from checkpoint +
//! deltas, the journal window, the contract, retention), one node owns a
//! session at a time (its lease), and a node that lost the lease never
//! writes again (the fencing token, checked inside Redis). Needs the
//! feature `redis` (default).
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::value::RawValue;
use serde_json::{json, Value};
use tabhub::ids::ChainId;
use tabhub::store::{
    RedisOptions, RedisStore, SavedChain, SavedDelta, SavedSession, SavedTask, SessionStore, Step,
    StepLog, StoreCause, StoreError,
};
use tabhub::{Epoch, Outcome, SessionKey};

use common::redis::Redis;

fn ok<T>(r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// A node on `redis` with `lease`.
fn node(redis: &Redis, lease: Duration) -> RedisStore {
    let mut options = RedisOptions::new(redis.url());
    options.lease = lease;
    options.recent_events = 3;
    ok(RedisStore::open(options))
}

/// A `delta` payload setting `/n` to `seq`.
fn delta(seq: u64) -> SavedDelta {
    let payload = json!({"seq": seq, "patch": [{"op": "replace", "path": "/n", "value": seq}]});
    SavedDelta {
        seq,
        payload: Arc::from(RawValue::from_string(payload.to_string()).unwrap()),
    }
}

/// The first step of a key: `{"n": 0}` at seq 0.
fn first(k: &SessionKey, epoch: &Epoch) -> Step {
    let mut step = Step::new(k.clone(), epoch.clone(), 0);
    step.checkpoint = Some(json!({"n": 0}));
    step
}

/// A step applying `delta(seq)` for event `ev{seq}`, the journal holding
/// every delta from `journal_from`.
fn delta_step(k: &SessionKey, epoch: &Epoch, seq: u64, journal_from: u64) -> Step {
    let mut step = Step::new(k.clone(), epoch.clone(), seq);
    step.deltas = vec![delta(seq)];
    step.journal_from = journal_from;
    step.event = Some((format!("ev{seq}"), Outcome::ok(seq, None)));
    step
}

fn seqs(journal: &[SavedDelta]) -> Vec<u64> {
    journal.iter().map(|d| d.seq).collect()
}

fn chain(id: &str) -> SavedChain {
    SavedChain {
        chain: ChainId::new(id),
        name: format!("next_{id}"),
        payload: json!({"id": id}),
    }
}

/// A plain connection, to look at (or break) what the store keeps.
fn raw(redis: &Redis) -> redis::Connection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn lease_key(k: &SessionKey) -> String {
    format!("tabhub:{{{}}}:lease", k.as_str())
}

#[test]
fn appended_steps_rebuild_the_session_its_journal_window_and_records() {
    let redis = Redis::start();
    let store = node(&redis, Duration::from_secs(5));
    let (k, epoch) = (SessionKey::random(), Epoch::random());
    assert!(ok(store.load(&k)).is_none(), "a key never seen");

    let mut steps = vec![first(&k, &epoch)];
    steps.extend((1..=4).map(|seq| delta_step(&k, &epoch, seq, 1)));
    steps[2].chains_added = vec![chain("c1"), chain("c2")];
    steps[3].chains_removed = vec![ChainId::new("c1")];
    steps[3].summary = Some(json!({"todos": 3}));
    steps[4].tasks_started = vec![SavedTask {
        key: "job".into(),
        input: json!({"n": 1}),
    }];
    ok(store.append(&steps));
    // The journal's window moves to seq 3: deltas 1 and 2 are trimmed.
    ok(store.append(&[delta_step(&k, &epoch, 5, 3)]));

    let logged = ok(store.load_steps(&k)).unwrap();
    assert_eq!(
        seqs(&logged.deltas),
        vec![1, 2, 3, 4, 5],
        "the checkpoint is at 0: the rebuild needs them"
    );
    let saved = ok(store.load(&k)).unwrap();
    assert_eq!(saved.seq, 5);
    assert_eq!(saved.epoch, Some(epoch.clone()));
    assert_eq!(saved.state, json!({"n": 5}));
    assert_eq!(seqs(&saved.journal), vec![3, 4, 5]);
    let recent: Vec<&str> = saved.recent.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        recent,
        vec!["ev3", "ev4", "ev5"],
        "at most 3 recent ids, the newest"
    );
    let pending: Vec<&str> = saved
        .pending_chains
        .iter()
        .map(|c| c.chain.as_str())
        .collect();
    assert_eq!(pending, vec!["c2"]);
    assert_eq!(saved.summary, json!({"todos": 3}));
    assert_eq!(saved.tasks.len(), 1);
    assert!(
        ok(store.sessions_with_tasks()).is_empty(),
        "a node owns it: its tasks run there"
    );
    assert_eq!(ok(store.load_summary(&k)), Some(json!({"todos": 3})));

    // A checkpoint at 5: only the journal's deltas stay.
    let mut step = delta_step(&k, &epoch, 6, 4);
    step.checkpoint = Some(json!({"n": 6}));
    step.tasks_ended = vec!["job".into()];
    ok(store.append(&[step]));
    assert_eq!(
        seqs(&ok(store.load_steps(&k)).unwrap().deltas),
        vec![4, 5, 6]
    );
    let k2 = SessionKey::random();
    ok(store.load(&k2));
    let mut step = first(&k2, &epoch);
    step.tasks_started = vec![SavedTask {
        key: "other".into(),
        input: json!({}),
    }];
    ok(store.append(&[step]));
    assert!(
        ok(store.sessions_with_tasks()).is_empty(),
        "k's last task ended; k2 is owned"
    );
}

#[test]
fn sessions_with_tasks_are_listed_for_takeover_once_their_owner_died_not_when_it_gave_them_up() {
    let redis = Redis::start();
    let lease = Duration::from_millis(300);
    let (a, b) = (node(&redis, lease), node(&redis, lease));
    let epoch = Epoch::random();
    let with_task = |k: &SessionKey| {
        let mut step = first(k, &epoch);
        step.tasks_started = vec![SavedTask {
            key: "job".into(),
            input: json!({}),
        }];
        step
    };
    let (stopped, orphaned) = (SessionKey::random(), SessionKey::random());
    for k in [&stopped, &orphaned] {
        ok(a.load(k));
        ok(a.append(&[with_task(k)]));
    }
    assert!(ok(b.sessions_with_tasks()).is_empty(), "A owns both");

    // A stops one session on purpose: its tasks wait for its next load,
    // as on one node. Then A dies: its other lease runs out.
    a.release(&stopped);
    drop(a);
    common::eventually_blocking("B to find the orphaned session", || {
        ok(b.sessions_with_tasks()) == vec![orphaned.clone()]
    });
    // Once a node loads it, it is owned again; so is one loaded on purpose.
    ok(b.load(&orphaned));
    ok(b.load(&stopped));
    b.release(&stopped);
    assert!(ok(b.sessions_with_tasks()).is_empty());
}

#[test]
fn a_batch_that_breaks_the_contract_writes_nothing_and_a_batch_sent_again_is_not_applied_twice() {
    let redis = Redis::start();
    let store = node(&redis, Duration::from_secs(5));
    let (k, epoch) = (SessionKey::random(), Epoch::random());
    ok(store.load(&k));
    ok(store.append(&[first(&k, &epoch)]));

    // Seq 1, then seq 3 with no checkpoint: refused, and seq 1 not written.
    let bad = [delta_step(&k, &epoch, 1, 1), delta_step(&k, &epoch, 3, 1)];
    let e = store.append(&bad).unwrap_err();
    assert!(matches!(e.cause, StoreCause::Invalid(_)), "{e}");
    assert_eq!(ok(store.load(&k)).unwrap().seq, 0);

    // A batch whose answer was lost is sent again: applied once.
    let mut step = delta_step(&k, &epoch, 1, 1);
    step.chains_added = vec![chain("c1")];
    ok(store.append(std::slice::from_ref(&step)));
    ok(store.append(std::slice::from_ref(&step)));
    let saved = ok(store.load(&k)).unwrap();
    assert_eq!(saved.seq, 1);
    assert_eq!(saved.pending_chains.len(), 1, "not added twice");
    assert_eq!(saved.recent.len(), 1, "not recorded twice");
}

#[test]
fn a_session_saved_whole_loads_back_as_it_was() {
    let redis = Redis::start();
    let store = node(&redis, Duration::from_secs(5));
    let k = SessionKey::random();
    ok(store.load(&k));
    let mut session = SavedSession::new(json!({"n": 7}), 7);
    session.epoch = Some(Epoch::random());
    session.journal = (5..=7).map(delta).collect();
    session.recent = vec![("e1".into(), Outcome::ok(7, Some(json!("x"))))];
    session.pending_chains = vec![chain("c9")];
    session.summary = json!({"s": 1});
    ok(store.save(&k, &session));
    let back = ok(store.load(&k)).unwrap();
    assert_eq!(back.state, json!({"n": 7}));
    assert_eq!((back.seq, back.epoch.clone()), (7, session.epoch.clone()));
    assert_eq!(seqs(&back.journal), vec![5, 6, 7]);
    assert_eq!(back.recent.len(), 1);
    assert_eq!(back.pending_chains[0].chain.as_str(), "c9");
    assert_eq!(back.summary, json!({"s": 1}));
}

#[test]
fn one_node_owns_a_session_and_a_node_that_lost_its_lease_never_writes_again() {
    let redis = Redis::start();
    let a = node(&redis, Duration::from_millis(600));
    let b = node(&redis, Duration::from_millis(600));
    let (k, epoch) = (SessionKey::random(), Epoch::random());
    ok(a.load(&k));
    ok(a.append(&[first(&k, &epoch)]));

    // A renews its lease: B cannot take the session, however long it tries.
    for _ in 0..3 {
        let e = b.load(&k).unwrap_err();
        assert!(matches!(e.cause, StoreCause::Fenced(_)), "{e}");
        assert!(e.to_string().contains(a.node()), "names the owner: {e}");
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(a.owns(&k));

    // A's lease runs out while nobody takes the key (it was paused, say):
    // A's next write takes it back, as its token is still the latest.
    redis::cmd("DEL")
        .arg(lease_key(&k))
        .query::<()>(&mut raw(&redis))
        .unwrap();
    ok(a.append(&[delta_step(&k, &epoch, 1, 1)]));

    // Now B takes the key after A's lease ran out; A's writes are refused
    // inside Redis, and A learns it lost the session.
    redis::cmd("DEL")
        .arg(lease_key(&k))
        .query::<()>(&mut raw(&redis))
        .unwrap();
    let taken = ok(b.load(&k)).unwrap();
    assert_eq!(taken.seq, 1, "B loads what A wrote");
    let e = a.append(&[delta_step(&k, &epoch, 2, 1)]).unwrap_err();
    assert!(matches!(e.cause, StoreCause::Fenced(_)), "{e}");
    assert!(a.save(&k, &taken).is_err(), "no whole save either");
    common::eventually_blocking("A to forget the lease it lost", || !a.owns(&k));
    assert_eq!(ok(b.load(&k)).unwrap().seq, 1, "nothing of A's got in");
    ok(b.append(&[delta_step(&k, &epoch, 2, 1)]));

    // B gives the session up when it stops: A may own it again at once.
    b.release(&k);
    assert_eq!(ok(a.load(&k)).unwrap().seq, 2);
}

#[test]
fn idle_keys_are_listed_oldest_first_recent_ones_newest_first_and_deleted_only_if_still_idle() {
    let redis = Redis::start();
    let store = node(&redis, Duration::from_secs(5));
    let (old, fresh) = (SessionKey::random(), SessionKey::random());
    for k in [&old, &fresh] {
        ok(store.load(k));
        ok(store.save(k, &SavedSession::new(json!({}), 0)));
        store.release(k);
        std::thread::sleep(Duration::from_millis(20));
    }
    let cutoff = SystemTime::now();
    assert_eq!(
        ok(store.idle_before(cutoff, 10)),
        vec![old.clone(), fresh.clone()]
    );
    assert_eq!(ok(store.idle_before(cutoff, 1)), vec![old.clone()]);
    // The listing of `GET /api/sessions`: newest first, paged by offset,
    // each key with its stamp.
    let recent = ok(store.recent(0, 10));
    let keys: Vec<&SessionKey> = recent.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [&fresh, &old]);
    assert!(recent[0].1 > recent[1].1, "{recent:?}");
    assert_eq!(ok(store.recent(1, 1)), recent[1..].to_vec());
    assert!(ok(store.recent(2, 10)).is_empty());

    // Active since the listing: kept.
    ok(store.load(&fresh));
    ok(store.touch(&fresh));
    store.release(&fresh);
    assert!(!ok(store.delete_if_idle(&fresh, cutoff)));
    assert!(ok(store.delete_if_idle(&old, cutoff)));
    assert!(ok(store.load(&old)).is_none(), "deleted");
    assert_eq!(ok(store.load_summary(&old)), None);
    assert!(ok(store.delete(&fresh)));
    assert!(!ok(store.delete(&fresh)), "nothing left to delete");
    assert!(ok(store.idle_before(SystemTime::now(), 10)).is_empty());
}

#[test]
fn a_redis_restart_loses_nothing_acknowledged_and_the_store_carries_on() {
    let mut redis = Redis::start();
    let store = node(&redis, Duration::from_secs(5));
    let (k, epoch) = (SessionKey::random(), Epoch::random());
    ok(store.load(&k));
    ok(store.append(&[first(&k, &epoch), delta_step(&k, &epoch, 1, 1)]));

    redis.kill();
    let e = store.append(&[delta_step(&k, &epoch, 2, 1)]).unwrap_err();
    assert!(
        matches!(e.cause, StoreCause::Backend(_)),
        "a clear error while it is down: {e}"
    );
    redis.restart();

    // Reconnected, scripts loaded again; the failed step was not written.
    common::eventually_blocking("the store to write again", || {
        store.append(&[delta_step(&k, &epoch, 2, 1)]).is_ok()
    });
    let saved = ok(store.load(&k)).unwrap();
    assert_eq!(saved.seq, 2);
    assert_eq!(saved.state, json!({"n": 2}));
    let _: Value = saved.state;
}
