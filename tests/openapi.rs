//! `docs/openapi.yaml`, the OpenAPI 3.1 description of tabhub's HTTP
//! routes, checked against the real binary: the document is valid OpenAPI
//! 3.1 (openapi-spec-validator), and schemathesis, driven by it, sends
//! generated requests to every route of `paths` (valid ones, and invalid
//! ones that must be refused with a 4xx), with and without the API token,
//! and checks each answer's status, content type, headers and body against
//! the document. No request may get a 5xx, and the process must still be
//! serving after.
//!
//! Two checks of schemathesis are left out, each because tabhub answers
//! otherwise on purpose: `unsupported_method` wants `405` for a method a
//! path lacks (the server API answers `404 not_found`, documented), and
//! `positive_data_acceptance` wants a 2xx for every valid body (a valid
//! body for a task that is not running is `410 task_gone`, documented).
//!
//! `TABHUB_OPENAPI_EXAMPLES` (default 40, examples per route) and
//! `TABHUB_OPENAPI_SEED` (default 23) change the run; the defaults keep it
//! to about a minute on two cores.
//!
//! The calls tabhub makes to a backend (the document's `webhooks`) are
//! checked too: a recording backend (`common::fault_backend`) gets a join,
//! a tab's event, a server API event, a new key's `initial_state` and a
//! cancel, and each body it got must match the document
//! (`tests/openapi/validate_calls.py`, with the `jsonschema` package).
//!
//! Needs `bash examples/python/venv.sh` (it installs schemathesis and
//! openapi-spec-validator from PyPI into the Python backend's venv); fails
//! with that hint otherwise.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::fault_backend::{answering, api_post, start_proxy_with_api, FaultBackend, API_TOKEN};
use common::process::start_tabhub;
use common::{eventually, new_key, Client};
use serde_json::{json, Value};

/// The server API token of the tabhub under test.
const TOKEN: &str = "openapi-test-token-0123456789";

/// What to run when a tool is missing.
const INSTALL_HINT: &str = "run `bash examples/python/venv.sh`: it installs schemathesis and \
     openapi-spec-validator from PyPI into target/python-venv (or $TABHUB_PY_VENV)";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn spec() -> PathBuf {
    root().join("docs/openapi.yaml")
}

/// `name` from the venv's `bin/`: `$TABHUB_PY_VENV`, else
/// `target/python-venv`.
fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("TABHUB_PY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/python-venv"));
    let path = venv.join("bin").join(name);
    assert!(
        path.is_file(),
        "{} not found: {INSTALL_HINT}",
        path.display()
    );
    path
}

/// The operations of the document's `paths` (its `webhooks` are calls
/// tabhub makes, not routes it serves): one `operationId` each.
fn served_operations() -> usize {
    let text = std::fs::read_to_string(spec()).unwrap();
    let paths = text.split("\nwebhooks:").next().unwrap();
    paths.matches("operationId:").count()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[test]
fn the_description_is_valid_openapi_3_1() {
    let text = std::fs::read_to_string(spec()).unwrap();
    assert!(
        text.lines().any(|l| l == "openapi: 3.1.0"),
        "docs/openapi.yaml should declare `openapi: 3.1.0`"
    );
    let output = Command::new(venv_bin("python"))
        .args(["-m", "openapi_spec_validator"])
        .arg(spec())
        .output()
        .unwrap();
    assert_python_ran(
        &output,
        "openapi-spec-validator is missing",
        "docs/openapi.yaml is not valid OpenAPI 3.1",
    );
}

/// Panics with what a Python run printed: `missing` (and the install
/// hint) when a module was not found, else `failed` unless it exited 0.
fn assert_python_ran(output: &std::process::Output, missing: &str, failed: &str) {
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !said.contains("No module named"),
        "{missing}: {INSTALL_HINT}\n{said}"
    );
    assert!(output.status.success(), "{failed}:\n{said}");
}

#[test]
fn every_route_answers_generated_requests_as_the_description_says() {
    let schemathesis = venv_bin("schemathesis");
    let (mut tabhub, addr) = start_tabhub(&["--api-token", TOKEN]);
    // schemathesis keeps its own files in the working directory.
    let work = std::env::temp_dir().join(format!("tabhub-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let junit = work.join("junit.xml");
    let output = Command::new(schemathesis)
        .current_dir(&work)
        .arg("run")
        .arg(spec())
        .args(["--url", &format!("http://{addr}")])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--checks", "all"])
        .args([
            "--exclude-checks",
            "unsupported_method,positive_data_acceptance",
        ])
        .args(["--max-examples", &env_or("TABHUB_OPENAPI_EXAMPLES", "40")])
        .args(["--seed", &env_or("TABHUB_OPENAPI_SEED", "23")])
        .args(["--workers", "1", "--request-timeout", "10"])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(&junit)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found answers that are not as docs/openapi.yaml says:\n{said}"
    );
    // Every route of `paths` was tried, not only those that loaded.
    let report = std::fs::read_to_string(&junit).unwrap();
    let tried = report.matches("<testcase").count();
    assert_eq!(
        tried,
        served_operations(),
        "schemathesis should try each operation of docs/openapi.yaml's paths\n{report}\n{said}"
    );
    assert!(
        tabhub.wait_for(Duration::ZERO).is_none(),
        "tabhub exited during the run\n{}",
        tabhub.output()
    );
    assert!(
        !tabhub.output().contains("panicked"),
        "tabhub panicked during the run\n{}",
        tabhub.output()
    );
    let _ = std::fs::remove_dir_all(&work);
}

#[actix_rt::test]
async fn the_calls_tabhub_makes_to_a_backend_are_as_the_description_says() {
    let backend = FaultBackend::start();
    backend.behaviour.lock().unwrap().initial_status = 200;
    let server = start_proxy_with_api(
        &backend,
        |proxy| {
            proxy.forward_headers = vec!["host".to_owned()];
            proxy.forward_peer = true;
            proxy.token = Some("the-backends-token".to_owned());
        },
        std::sync::Arc::new(tabhub::MemoryStore::new()),
    );
    let key = new_key();
    let mut tab = Client::connect(&server, "tab-a").await;
    let joined = tab.join_with(&key, json!({"role": "viewer"})).await;
    assert_eq!(joined["status"], "ok", "{joined}");
    let answer = json!({
        "patch": [{"op": "add", "path": "/todos", "value": []}],
        "effects": [{"kind": "toast", "data": {"text": "hi"}, "to": "all"}],
        "reply": {"ok": true},
        "tasks": {"start": ["job/1"]},
        "summary": {"todos": 0},
    });
    let reply = tab.event(&key, "answer", answering(answer)).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let api = format!("{}/sessions/{key}", server.srv.url("/api"));
    let event = json!({"id": "api-1", "name": "answer", "payload": answering(json!({}))});
    let (status, reply) = api_post(&format!("{api}/events"), API_TOKEN, event).await;
    assert_eq!((status, &reply["status"]), (200, &json!("ok")), "{reply}");
    let (status, cancelled) = api_post(
        &format!("{api}/tasks/job%2F1/cancel"),
        API_TOKEN,
        Value::Null,
    )
    .await;
    assert_eq!((status, cancelled), (200, json!({"cancelled": true})));
    eventually("the backend is told of the cancel", async || {
        !backend.calls_to("cancel").is_empty()
    })
    .await;

    let calls: Vec<Value> = backend
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|call| {
            assert_eq!(
                call.authorization.as_deref(),
                Some("Bearer the-backends-token"),
                "URL/{} should carry --app-token",
                call.path
            );
            json!({"call": call.path, "body": call.body})
        })
        .collect();
    for call in ["initial_state", "join", "event", "cancel"] {
        assert!(
            calls.iter().any(|c| c["call"] == call),
            "the backend should have been asked URL/{call}: {calls:?}"
        );
    }
    let mut validator = Command::new(venv_bin("python"))
        .arg(root().join("tests/openapi/validate_calls.py"))
        .arg(spec())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(&calls).unwrap();
    std::io::Write::write_all(&mut validator.stdin.take().unwrap(), &input).unwrap();
    let output = validator.wait_with_output().unwrap();
    assert_python_ran(
        &output,
        "a Python package is missing",
        "tabhub's calls to the backend are not as docs/openapi.yaml's webhooks say",
    );
}
