//! Retention: last activity per key, idle keys oldest first, deleting a
//! key whole, and keys of databases written before retention.

use std::time::{Duration, SystemTime};

use redb::{ReadableTable, ReadableTableMetadata};

use super::super::tables::{Meta, ACTIVITY, CHECKPOINTS, META, PENDING_CHAINS, TASKS};
use super::*;
use crate::store::SavedTask;

fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

fn earlier() -> SystemTime {
    SystemTime::now() - Duration::from_secs(3600)
}

/// Rows of a whole table.
fn table_len<K: redb::Key + 'static, V: redb::Value + 'static>(
    store: &RedbStore,
    def: redb::TableDefinition<K, V>,
) -> u64 {
    let txn = store.begin_read("test").unwrap_or_else(|e| panic!("{e}"));
    let table = txn.open_table(def).unwrap_or_else(|e| panic!("{e}"));
    table.len().unwrap_or_else(|e| panic!("{e}"))
}

/// A key with a delta, a recent id, a pending chain, a task and a summary.
fn busy_key(store: &RedbStore, c: char) -> SessionKey {
    let (k, e) = (key(c), Epoch::new("e"));
    ok(store.append(&[
        first(&k, &e),
        Step {
            chains_added: vec![chain(&format!("c{c}"))],
            summary: Some(json!({"s": 1})),
            tasks_started: vec![SavedTask {
                key: "job".into(),
                input: json!(1),
            }],
            ..delta_step(&k, &e, 1)
        },
    ]));
    k
}

#[test]
fn a_written_key_is_idle_only_before_a_cutoff_after_its_last_activity() {
    let tmp = TempDb::new("idle");
    let store = open(tmp.options());
    let k = busy_key(&store, 'a');
    assert_eq!(
        ok(store.idle_before(earlier(), 10)),
        Vec::<SessionKey>::new()
    );
    assert_eq!(ok(store.idle_before(later(), 10)), vec![k.clone()]);
    // One index row per key, however many steps it took.
    ok(store.append(&[delta_step(&k, &Epoch::new("e"), 2)]));
    assert_eq!(table_len(&store, ACTIVITY), 1);
}

#[test]
fn idle_keys_come_oldest_first_and_at_most_limit_of_them() {
    let tmp = TempDb::new("idle-order");
    let store = open(tmp.options());
    let keys: Vec<SessionKey> = ['a', 'b', 'c']
        .into_iter()
        .map(|c| {
            let k = busy_key(&store, c);
            // Activity is kept in ms: let each key have its own.
            std::thread::sleep(Duration::from_millis(3));
            k
        })
        .collect();
    // Touching `a` makes it the most recently active.
    ok(store.touch(&keys[0]));
    let idle = ok(store.idle_before(later(), 10));
    assert_eq!(
        idle,
        vec![keys[1].clone(), keys[2].clone(), keys[0].clone()]
    );
    assert_eq!(ok(store.idle_before(later(), 2)).len(), 2);
    assert_eq!(table_len(&store, ACTIVITY), 3);
}

#[test]
fn delete_removes_every_row_of_the_key_and_no_other() {
    let tmp = TempDb::new("delete");
    let store = open(tmp.options());
    let gone = busy_key(&store, 'a');
    let kept = busy_key(&store, 'b');
    assert!(ok(store.delete(&gone)));
    assert!(ok(store.load(&gone)).is_none());
    assert_eq!(delta_rows(&store, &gone), 0);
    assert_eq!(recent_rows(&store, &gone), (0, 0));
    for len in [
        table_len(&store, META),
        table_len(&store, CHECKPOINTS),
        table_len(&store, ACTIVITY),
        table_len(&store, PENDING_CHAINS),
        table_len(&store, TASKS),
    ] {
        assert_eq!(len, 1, "only the other key's row is left");
    }
    assert_eq!(load(&store, &kept).seq, 1);
    assert_eq!(ok(store.idle_before(later(), 10)), vec![kept]);
    // Deleting what is not kept says so.
    assert!(!ok(store.delete(&gone)));
}

#[test]
fn delete_if_idle_keeps_a_key_active_since_the_cutoff() {
    let tmp = TempDb::new("delete-if-idle");
    let store = open(tmp.options());
    let k = busy_key(&store, 'a');
    assert!(!ok(store.delete_if_idle(&k, earlier())));
    assert_eq!(load(&store, &k).seq, 1);
    assert!(ok(store.delete_if_idle(&k, later())));
    assert!(ok(store.load(&k)).is_none());
    assert!(!ok(store.delete_if_idle(&k, later())));
}

#[test]
fn a_save_restamps_the_key_and_a_key_deleted_then_saved_is_kept_again() {
    let tmp = TempDb::new("save-stamp");
    let store = open(tmp.options());
    let k = busy_key(&store, 'a');
    let mut saved = load(&store, &k);
    assert!(ok(store.delete(&k)));
    saved.seq = 5;
    saved.journal.clear();
    ok(store.save(&k, &saved));
    assert_eq!(table_len(&store, ACTIVITY), 1);
    assert_eq!(ok(store.idle_before(later(), 10)), vec![k.clone()]);
    ok(store.save(&k, &saved));
    assert_eq!(table_len(&store, ACTIVITY), 1, "a save moves the row");
}

#[test]
fn keys_written_before_retention_are_stamped_when_the_store_opens() {
    let tmp = TempDb::new("upgrade");
    let k = {
        let store = open(tmp.options());
        let k = busy_key(&store, 'a');
        // Make the database look older than retention: no activity.
        let txn = store.begin_write("test").unwrap_or_else(|e| panic!("{e}"));
        {
            let mut meta = txn.open_table(META).unwrap_or_else(|e| panic!("{e}"));
            let mut m: Meta = {
                let row = meta.get(k.as_str()).unwrap_or_else(|e| panic!("{e}"));
                let bytes = row.unwrap_or_else(|| panic!("no meta")).value().to_vec();
                serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"))
            };
            m.active_ms = 0;
            let bytes = serde_json::to_vec(&m).unwrap_or_else(|e| panic!("{e}"));
            meta.insert(k.as_str(), bytes.as_slice())
                .unwrap_or_else(|e| panic!("{e}"));
            let mut activity = txn.open_table(ACTIVITY).unwrap_or_else(|e| panic!("{e}"));
            activity
                .retain(|_, ()| false)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        txn.commit().unwrap_or_else(|e| panic!("{e}"));
        assert!(ok(store.idle_before(later(), 10)).is_empty());
        k
    };
    let store = open(tmp.options());
    assert_eq!(ok(store.idle_before(later(), 10)), vec![k.clone()]);
    assert!(ok(store.idle_before(earlier(), 10)).is_empty());
    assert!(ok(store.delete(&k)));
    assert_eq!(table_len(&store, ACTIVITY), 0);
}

#[test]
fn recent_keys_are_listed_newest_first_and_paged_by_offset() {
    let tmp = TempDb::new("recent");
    let store = open(tmp.options());
    let keys: Vec<SessionKey> = ['a', 'b', 'c']
        .into_iter()
        .map(|c| {
            let k = key(c);
            ok(store.save(&k, &SavedSession::new(json!({}), 0)));
            // Stamps are whole ms: each save at a later one.
            std::thread::sleep(Duration::from_millis(3));
            k
        })
        .collect();
    let recent = ok(store.recent(0, 10));
    let listed: Vec<&SessionKey> = recent.iter().map(|(k, _)| k).collect();
    assert_eq!(listed, [&keys[2], &keys[1], &keys[0]]);
    assert!(recent.windows(2).all(|w| w[0].1 > w[1].1), "{recent:?}");
    assert_eq!(ok(store.recent(1, 1)), recent[1..2].to_vec());
    assert!(ok(store.recent(3, 10)).is_empty());
    // Touched, the oldest comes first.
    ok(store.touch(&keys[0]));
    assert_eq!(ok(store.recent(0, 1))[0].0, keys[0]);
}
