//! A real full disk: the redb store on a small tmpfs, steady load on three
//! sessions with tabs and one with only a background job, then the disk
//! fills up (ENOSPC). Commits fail and the sessions concerned tell their
//! tabs to rejoin. Once space is freed every session serves again by
//! itself (the job's session too, with no tab), without a restart of the
//! service, and every acknowledged event is in its state.
//!
//! Needs root (it mounts a tmpfs); it fails, never skips, without it.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::node::TempDir;
use common::{eventually, eventually_within, new_key, start_server, Client, WAIT};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::{Config, RedbOptions, RedbStore, SessionKey, Store};
use tokio::time::{sleep, Instant};

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = TempDir::new("tabhub-full-disk");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir.0)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "this test mounts a tmpfs to fill a real disk and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir.0).status();
    }
}

/// Fills the filesystem of `path` with a file until it is full.
fn fill(path: &Path) -> PathBuf {
    let filler = path.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
    filler
}

/// Pushes `add_todo {text}` (with bulk, so the database must grow);
/// returns whether it was acknowledged. On `phx_error` the join is gone.
async fn add(tab: &mut Client, key: &str, text: &str) -> Result<bool, ()> {
    let topic = format!("session:{key}");
    let payload = json!({"id": text, "name": "add_todo", "payload": {"text": format!("{text} {}", "x".repeat(6000))}});
    let r = tab.push(&topic, "event", payload).await;
    let t = topic.clone();
    let m = tab
        .wait_for(move |m| {
            (m.event == "phx_reply" && m.reference.as_deref() == Some(&r))
                || (m.event == "phx_error" && m.topic == t)
        })
        .await;
    if m.event == "phx_error" {
        return Err(());
    }
    Ok(m.payload["status"] == "ok")
}

/// Tries to join once; whether it was accepted.
async fn try_join(tab: &mut Client, key: &str) -> Option<Value> {
    let reply = tab.join_with(key, json!({"cursor": null})).await;
    (reply["status"] == "ok").then(|| reply["response"].clone())
}

fn job_progress(store: &RedbStore, key: &str) -> u64 {
    let saved = store
        .load(&SessionKey::parse(key).unwrap())
        .unwrap()
        .unwrap();
    saved.state["jobs"]["long"]["progress"]
        .as_u64()
        .unwrap_or(0)
}

#[actix_rt::test]
async fn after_a_full_disk_is_freed_every_session_serves_again_and_nothing_acknowledged_is_lost() {
    let disk = Tmpfs::mount("6m");
    let store = Arc::new(
        RedbStore::open(RedbOptions {
            path: disk.path().join("db.redb"),
            recent_events: 64,
        })
        .unwrap(),
    );
    let server = start_server(Demo::default(), Config::default(), store.clone());
    let keys: Vec<String> = (0..3).map(|_| new_key()).collect();
    let mut tabs = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let mut tab = Client::connect(&server, &format!("t{i}")).await;
        tab.join(key, None).await;
        tabs.push(tab);
    }
    // A session whose only life is a background job: its tab leaves.
    let job_key = new_key();
    let mut starter = Client::connect(&server, "starter").await;
    starter.join(&job_key, None).await;
    let job = json!({"key": "long", "steps": 10_000, "step_ms": 20});
    assert_eq!(
        starter.event(&job_key, "start_job", job).await["status"],
        "ok"
    );
    drop(starter);

    let mut acked: Vec<Vec<String>> = vec![Vec::new(); 3];
    let mut n = 0;
    // Steady load, then the disk fills up under it.
    let filler = loop {
        for (i, tab) in tabs.iter_mut().enumerate() {
            n += 1;
            let text = format!("e{n}");
            if add(tab, &keys[i], &text).await == Ok(true) {
                acked[i].push(text);
            }
        }
        if n >= 30 {
            break fill(disk.path());
        }
    };
    let mut failed = [false; 3];
    let deadline = Instant::now() + WAIT;
    while failed.iter().any(|f| !f) {
        assert!(
            Instant::now() < deadline,
            "the full disk never failed a commit: {failed:?}"
        );
        for (i, tab) in tabs.iter_mut().enumerate() {
            if failed[i] {
                continue;
            }
            n += 1;
            let text = format!("e{n}");
            match add(tab, &keys[i], &text).await {
                Ok(true) => acked[i].push(text),
                Ok(false) => {}
                Err(()) => failed[i] = true,
            }
        }
    }

    // While the disk is full the latest write fails for every step it
    // carries, though now and then a small one fits in pages redb freed:
    // the hub says so within a moment, not at every instant.
    eventually("the hub to say the store cannot commit", async || {
        server.hub.store_failing()
    })
    .await;

    // Space comes back; nobody restarts anything.
    std::fs::remove_file(&filler).unwrap();
    for (i, tab) in tabs.iter_mut().enumerate() {
        let deadline = Instant::now() + WAIT;
        while try_join(tab, &keys[i]).await.is_none() {
            assert!(
                Instant::now() < deadline,
                "session {i} never took joins again"
            );
            sleep(Duration::from_millis(100)).await;
        }
        n += 1;
        let text = format!("e{n}");
        assert_eq!(
            add(tab, &keys[i], &text).await,
            Ok(true),
            "session {i} takes events"
        );
        acked[i].push(text);
    }
    assert!(!server.hub.store_failing());
    // The job's session was restarted by the supervisor, with no tab.
    let start = job_progress(&store, &job_key);
    eventually_within(
        WAIT * 2,
        "the job to go on after the disk recovered",
        async || job_progress(&store, &job_key) > start + 5,
    )
    .await;

    for (i, tab) in tabs.iter_mut().enumerate() {
        let state = tab.join(&keys[i], None).await;
        let texts: Vec<String> = state["state"]["todos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t["text"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        for text in &acked[i] {
            assert!(texts.contains(text), "session {i} lost acknowledged {text}");
        }
    }
}
