//! Restartable background tasks outlive the service: a job running at
//! shutdown is saved with its input and goes on from its last progress when
//! its session is loaded again; a task the app cannot restart ends as
//! failed instead of looking alive forever.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{new_key, start_server, until_no_session, Client, Mirror};
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::{Config, MemoryStore, RedbOptions, RedbStore, Store};

async fn job_survives_a_restart_with(store: Arc<dyn Store>) {
    let key = new_key();
    let topic = format!("session:{key}");
    let mut mirror: Mirror;
    {
        let server = start_server(Demo::default(), Config::default(), store.clone());
        let mut tab = Client::connect(&server, "page").await;
        let (m, _) = tab.join_mirror(&key, None).await;
        mirror = m;
        let r = tab
            .event(
                &key,
                "start_job",
                json!({"key": "long", "steps": 30, "step_ms": 20}),
            )
            .await;
        assert_eq!(r["status"], "ok", "{r}");
        while mirror.state["jobs"]["long"]["progress"]
            .as_u64()
            .unwrap_or(0)
            < 3
        {
            let d = tab.wait_event(&topic, "delta").await;
            mirror.apply_delta(&d.payload);
        }
        server.hub.shutdown().await;
        assert_eq!(tab.expect_close().await, 1012);
    }
    let at_shutdown = mirror.state["jobs"]["long"]["progress"].as_u64().unwrap();

    let server = start_server(Demo::default(), Config::default(), store);
    let mut tab = Client::connect(&server, "page").await;
    let r = tab.join(&key, Some(mirror.cursor())).await;
    assert_ne!(r["resume"], "snapshot", "{r}");
    mirror.apply_join(&r);
    loop {
        let d = tab.wait_event(&topic, "delta").await;
        mirror.apply_delta(&d.payload);
        if mirror.state["jobs"]["long"]["status"] == "done" {
            break;
        }
    }
    assert_eq!(mirror.state["jobs"]["long"]["progress"], 30);
    assert!(
        at_shutdown < 30,
        "the job was cut off by the shutdown ({at_shutdown}/30)"
    );
}

#[actix_rt::test]
async fn a_job_running_at_shutdown_goes_on_after_a_restart_with_the_durable_store() {
    let dir = std::env::temp_dir().join(format!("tabhub-tasks-{}", uuid::Uuid::new_v4().simple()));
    let config = Config::default();
    let store = RedbStore::open(RedbOptions {
        path: dir.join("tasks.redb"),
        recent_events: config.recent_events,
    })
    .unwrap();
    job_survives_a_restart_with(Arc::new(store)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_rt::test]
async fn a_job_running_at_shutdown_goes_on_after_a_restart_with_the_memory_store() {
    job_survives_a_restart_with(Arc::new(MemoryStore::new())).await;
}

/// An app whose tasks are restartable but which has no restart logic.
struct NoRestart;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Flag {
    running: bool,
    ended: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum Go {
    Go {},
}

impl tabhub::App for NoRestart {
    type State = Flag;
    type Event = Go;
    type Identity = ();
    async fn handle(
        &self,
        state: &mut Flag,
        _e: Go,
        cx: &mut tabhub::Context<'_, Self>,
    ) -> Result<(), tabhub::AppError> {
        state.running = true;
        cx.spawn_restartable("forever", json!({}), |_task| async move {
            std::future::pending::<()>().await;
            Ok(())
        })
    }
    fn task_ended(
        &self,
        state: &mut Flag,
        _task: &str,
        end: &tabhub::TaskEnd,
        _cx: &mut tabhub::Context<'_, Self>,
    ) {
        state.running = false;
        state.ended = Some(format!("{end:?}"));
    }
}

#[actix_rt::test]
async fn a_task_the_app_cannot_restart_ends_as_failed() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let key = new_key();
    {
        let server = start_server(NoRestart, Config::default(), store.clone());
        let mut tab = Client::connect(&server, "page").await;
        tab.join(&key, None).await;
        assert_eq!(tab.event(&key, "go", json!({})).await["status"], "ok");
        server.hub.shutdown().await;
    }
    let server = start_server(NoRestart, Config::default(), store);
    let mut tab = Client::connect(&server, "page").await;
    let r = tab.join(&key, None).await;
    let state = &r["state"];
    assert_eq!(state["running"], false, "{r}");
    assert!(
        state["ended"].as_str().unwrap().starts_with("Failed"),
        "{r}"
    );
}

#[actix_rt::test]
async fn a_job_running_at_shutdown_goes_on_after_a_restart_before_any_tab_joins() {
    let store = Arc::new(MemoryStore::new());
    let key = new_key();
    {
        let server = start_server(Demo::default(), Config::default(), store.clone());
        let mut tab = Client::connect(&server, "page").await;
        tab.join(&key, None).await;
        let r = tab
            .event(
                &key,
                "start_job",
                json!({"key": "nightly", "steps": 10, "step_ms": 20}),
            )
            .await;
        assert_eq!(r["status"], "ok");
        server.hub.shutdown().await;
    }
    let saved = store
        .load(&tabhub::SessionKey::parse(&key).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        saved.tasks.len(),
        1,
        "the running job was saved with its input"
    );

    // A new service on the same store: no tab ever joins, yet the job runs
    // to the end and the session is saved and stopped after its grace time.
    let mut config = Config::default();
    config.grace = std::time::Duration::from_millis(50);
    let server = start_server(Demo::default(), config, store.clone());
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let saved = store
            .load(&tabhub::SessionKey::parse(&key).unwrap())
            .unwrap()
            .unwrap();
        if saved.state["jobs"]["nightly"]["status"] == "done" {
            assert_eq!(saved.state["jobs"]["nightly"]["progress"], 10);
            assert!(
                saved.tasks.is_empty(),
                "a finished job is no longer restartable"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job did not finish without a tab: {}",
            saved.state
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The session saved itself just before the supervisor forgets it.
    until_no_session(&server.hub).await;
}
