//! The Node example backend (`examples/node/`, plain `node:http`, no
//! dependencies) as a real process behind a real `tabhub --app-url`,
//! checked over real WebSockets: tabs join through its `URL/join`, share
//! the state its answers change, get its refusals and its toast, and a job
//! it runs pushes progress and ends its task through the server API.
//!
//! Needs Node.js (nothing from npm); fails with a hint without it.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::process::{free_port, start_tabhub, Guard, SERVER_START};
use common::{new_key, node, Client};
use serde_json::json;

const API_TOKEN: &str = "node-backend-api-token";

/// The two processes: the Node backend and tabhub in front of it.
struct Pair {
    _tabhub: Guard,
    backend: Guard,
    addr: SocketAddr,
}

impl Pair {
    fn start() -> Pair {
        Self::start_with(&[])
    }

    /// As [`Pair::start`], with more flags for tabhub.
    fn start_with(flags: &[&str]) -> Pair {
        node::require(&[]);
        let port = free_port();
        let app_url = format!("http://127.0.0.1:{port}/tabhub");
        let mut args = vec!["--app-url", &app_url, "--api-token", API_TOKEN];
        args.extend_from_slice(flags);
        let (tabhub, addr) = start_tabhub(&args);
        let mut command = Command::new("node");
        command
            .current_dir(node::root())
            .args(["examples/node/app.mjs", "--port", &port.to_string()])
            .env("TABHUB_API_URL", format!("http://{addr}/api"))
            .env("TABHUB_API_TOKEN", API_TOKEN);
        let mut backend = Guard::spawn(command);
        let backend_addr = SocketAddr::from(([127, 0, 0, 1], port));
        backend.wait_listening("the Node backend", backend_addr, SERVER_START);
        Pair {
            _tabhub: tabhub,
            backend,
            addr,
        }
    }

    async fn tab(&self, tab: &str) -> Client {
        let url = format!(
            "http://{}/socket/websocket?vsn=2.0.0&tab_id={tab}",
            self.addr
        );
        Client::connect_url(&url, tab).await
    }
}

#[actix_rt::test]
async fn tabs_join_through_the_node_backend_and_share_the_state_its_answers_change() {
    let pair = Pair::start();
    let key = new_key();
    let mut a = pair.tab("a").await;
    let mut b = pair.tab("b").await;
    let (mut ma, joined) = a.join_mirror(&key, None).await;
    assert_eq!(
        joined["state"],
        json!({"todos": [], "jobs": {}, "chain_count": 0}),
        "{}",
        pair.backend.output()
    );
    let (mut mb, _) = b.join_mirror(&key, None).await;

    let r = a.event(&key, "add_todo", json!({"text": "milk"})).await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));
    let r = b
        .event(
            &key,
            "add_todo_after",
            json!({"text": "eggs", "delay_ms": 10}),
        )
        .await;
    assert_eq!(r["response"]["seq"], 2, "{r}");
    a.catch_up(&key, &mut ma, 2).await;
    b.catch_up(&key, &mut mb, 2).await;
    assert_eq!(ma.state, mb.state);
    assert_eq!(ma.todo_texts(), ["milk", "eggs"]);
    assert_eq!(ma.state["todos"][1]["id"], r["response"]["data"]["id"]);

    let r = a
        .event(&key, "add_todo", json!({"text": "x".repeat(100_001)}))
        .await;
    assert_eq!(r["response"]["reason"], "too_long", "{r}");
    assert_eq!(r["response"]["data"], json!({"max": 100000}));
    let r = a.event(&key, "add_todo", json!({"text": 5})).await;
    assert_eq!(r["response"]["reason"], "invalid_payload", "{r}");
    let r = a.event(&key, "no_such_event", json!({})).await;
    assert_eq!(r["response"]["reason"], "unknown_event", "{r}");

    let r = a.event(&key, "toast", json!({"text": "hello"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    let effect = a.wait_event(&format!("session:{key}"), "effect").await;
    assert_eq!(
        effect.payload,
        json!({"kind": "toast", "data": {"text": "hello"}})
    );
    b.assert_silent_for(200).await;
}

#[actix_rt::test]
async fn a_job_of_the_node_backend_pushes_progress_and_ends_its_task() {
    let pair = Pair::start();
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = pair.tab("a").await;
    let (mut mirror, _) = a.join_mirror(&key, None).await;
    let job = json!({"key": "job/1", "steps": 3, "step_ms": 20});
    assert_eq!(a.event(&key, "start_job", job).await["status"], "ok");
    a.wait_for(|m| m.event == "task" && m.payload["status"] == "done")
        .await;
    while mirror.state["jobs"]["job/1"]["status"] != "done" {
        let d = a.wait_event(&topic, "delta").await;
        mirror.apply_delta(&d.payload);
    }
    assert_eq!(mirror.state["jobs"]["job/1"]["progress"], 3);
}

#[actix_rt::test]
async fn with_app_presence_the_node_backend_lists_who_is_here() {
    let pair = Pair::start_with(&["--app-presence"]);
    let key = new_key();
    let mut a = pair.tab("a").await;
    let (mut ma, _) = a.join_mirror(&key, None).await;
    a.catch_up(&key, &mut ma, 1).await;
    assert_eq!(
        ma.state["here"],
        json!([{"tab": "a", "visible": true}]),
        "{}",
        pair.backend.output()
    );
    let mut b = pair.tab("b").await;
    b.join_with(&key, json!({"visibility": "hidden"})).await;
    a.catch_up(&key, &mut ma, 2).await;
    assert_eq!(
        ma.state["here"],
        json!([{"tab": "a", "visible": true}, {"tab": "b", "visible": false}])
    );
    drop(b);
    a.catch_up(&key, &mut ma, 3).await;
    assert_eq!(ma.state["here"], json!([{"tab": "a", "visible": true}]));
}
