//! Server code reaches a session by key (`hub.session(key)`), whether or not
//! a tab is joined: it submits events through the same queue as tabs (the
//! same outcome, idempotent by id), reads the state with its seq and epoch,
//! sends effects, cancels tasks and lists the tabs; a stopped session is
//! loaded for it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{new_key, start_demo, until_no_session, Client};
use serde_json::json;
use tabhub::demo::DemoEvent;
use tabhub::protocol::message::Visibility;
use tabhub::{Config, Outcome, SessionKey};

fn add(text: &str) -> DemoEvent {
    DemoEvent::AddTodo { text: text.into() }
}

#[actix_rt::test]
async fn server_code_submits_reads_and_sends_effects_with_and_without_tabs_joined() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let handle = server.hub.session(&SessionKey::parse(&key).unwrap());

    // No tab joined: the session starts for the handle.
    let first = handle.submit("s1", add("from the server")).await.unwrap();
    assert_eq!(first, Outcome::ok(1, None));
    assert_eq!(
        handle.submit("s1", add("again")).await.unwrap(),
        first,
        "a repeated id gets the first outcome"
    );
    let view = handle.state().await.unwrap();
    assert_eq!((view.seq, view.state.todos.len()), (1, 1));
    assert!(handle.tabs().await.unwrap().is_empty());

    // A tab joins and sees the server's events like any other tab's.
    let mut a = Client::connect(&server, "a").await;
    let (mut m, r) = a.join_mirror(&key, None).await;
    assert_eq!(r["epoch"], view.epoch.as_str());
    let second = handle.submit("s2", add("seen by the tab")).await.unwrap();
    assert_eq!(second, Outcome::ok(2, None));
    a.catch_up(&key, &mut m, 2).await;
    assert_eq!(m.state["todos"][1]["text"], "seen by the tab");
    let refused = handle.submit("s3", add(" ")).await.unwrap();
    assert!(matches!(refused, Outcome::Error { .. }), "{refused:?}");

    let tabs = handle.tabs().await.unwrap();
    assert_eq!(tabs.len(), 1);
    assert_eq!(tabs[0].tab_id.as_str(), "a");
    assert!(tabs[0].leader);
    assert_eq!(tabs[0].visibility, Visibility::Visible);

    let topic = format!("session:{key}");
    handle
        .effect_to_all("toast", json!({"text": "to all"}))
        .await
        .unwrap();
    let e = a.wait_event(&topic, "effect").await;
    assert_eq!(
        e.payload,
        json!({"kind": "toast", "data": {"text": "to all"}})
    );
    handle
        .effect_to(&tabs[0].tab_id, "toast", json!({"text": "to a"}))
        .await
        .unwrap();
    let e = a.wait_event(&topic, "effect").await;
    assert_eq!(e.payload["data"]["text"], "to a");

    // Tasks: started by the server, cancelled by the server.
    let job = DemoEvent::StartJob {
        key: "j".into(),
        steps: 1000,
        step_ms: 50,
    };
    assert!(matches!(
        handle.submit("s4", job).await.unwrap(),
        Outcome::Ok { .. }
    ));
    assert_eq!(
        a.wait_event(&topic, "task").await.payload["status"],
        "running"
    );
    assert!(handle.cancel_task("j").await.unwrap());
    assert_eq!(
        a.wait_event(&topic, "task").await.payload["status"],
        "cancelled"
    );
    assert!(!handle.cancel_task("j").await.unwrap(), "no longer running");
}

#[actix_rt::test]
async fn a_handle_loads_a_stopped_session_with_its_state_and_seq() {
    let (server, _store) = start_demo({
        let mut config = Config::default();
        config.grace = Duration::from_millis(50);
        config
    });
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "kept"})).await;
    drop(a);
    until_no_session(&server.hub).await;
    let handle = server.hub.session(&SessionKey::parse(&key).unwrap());
    let view = handle.state().await.unwrap();
    assert_eq!(view.seq, 1);
    assert_eq!(view.state.todos[0].text, "kept");
    assert_eq!(
        server.hub.stats().await.unwrap().sessions,
        1,
        "loaded for the handle"
    );
}
