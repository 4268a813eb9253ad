//! The binary's settings from a configuration file (`--config`), with
//! flags and then the environment over it, `--print-config`, refusals of
//! a bad file, `--no-demo` and `--no-admin`. Precedence: flags > environment > file >
//! defaults (docs/configuration.md).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::process::start_tabhub;
use common::{new_key, Client};
use serde_json::json;

/// A TOML file in the temporary directory, removed when dropped.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(name: &str, text: &str) -> ConfigFile {
        let path = std::env::temp_dir().join(format!(
            "tabhub-config-file-{}-{name}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        ConfigFile(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the binary to completion with these arguments and variables (and
/// no other `TABHUB_*` variable).
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tabhub"));
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("TABHUB_")) {
        command.env_remove(name);
    }
    command.args(args).envs(env.iter().copied());
    command.output().unwrap()
}

fn printed(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn print_config_shows_the_file_under_the_environment_under_the_flags_with_durations_in_units() {
    let file = ConfigFile::new(
        "layers",
        "grace = \"5m\"\nchain-timeout = \"3s\"\nmax-sessions = 10\nqueue-len = 7\n",
    );
    let out = printed(&run(
        &[
            "--config",
            file.arg(),
            "--print-config",
            "--max-sessions",
            "20",
        ],
        &[
            ("TABHUB_CHAIN_TIMEOUT", "4s"),
            ("TABHUB_MAX_SESSIONS", "30"),
        ],
    ));
    // The file's, where nothing else gives the setting.
    assert!(out.contains("grace = \"5m\"\n"), "{out}");
    assert!(out.contains("queue-len = 7\n"), "{out}");
    // The environment's over the file's.
    assert!(out.contains("chain-timeout = \"4s\"\n"), "{out}");
    // The flag's over both.
    assert!(out.contains("max-sessions = 20\n"), "{out}");
    // The defaults, with their units.
    assert!(out.contains("client-timeout = \"1m\"\n"), "{out}");
    assert!(out.contains("commit-window = \"200us\"\n"), "{out}");
    // The --config file may come from the environment too.
    let out = printed(&run(
        &["--print-config"],
        &[("TABHUB_CONFIG", file.arg()), ("TABHUB_GRACE_MS", "1500")],
    ));
    assert!(out.contains("queue-len = 7\n"), "{out}");
    assert!(out.contains("grace = \"1s 500ms\"\n"), "{out}");
}

#[test]
fn print_config_redacts_the_tokens_and_the_redis_password() {
    let out = printed(&run(
        &[
            "--print-config",
            "--api-token",
            "api-secret-1",
            "--redis-url",
            "redis://:redis-secret-2@127.0.0.1:6379/0",
        ],
        &[("TABHUB_APP_TOKEN", "app-secret-3")],
    ));
    for secret in ["api-secret-1", "redis-secret-2", "app-secret-3"] {
        assert!(!out.contains(secret), "{secret} printed:\n{out}");
    }
    assert!(out.contains("api-token = \"(redacted)\""), "{out}");
    assert!(out.contains("127.0.0.1:6379/0"), "{out}");
}

#[test]
fn a_file_with_an_unknown_key_or_a_bad_duration_stops_the_binary_naming_the_key() {
    let unknown = ConfigFile::new("unknown", "grace = \"5m\"\nmax-tab = 3\n");
    let out = run(&["--config", unknown.arg()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown key `max-tab`"), "{stderr}");

    let bad = ConfigFile::new("bad-duration", "handler-timeout = \"ten seconds\"\n");
    let out = run(&["--config", bad.arg()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("handler-timeout"), "{stderr}");
    assert!(
        stderr.contains("10s"),
        "says what a duration looks like: {stderr}"
    );
}

fn socket_url(addr: SocketAddr, tab: &str) -> String {
    format!("http://{addr}/socket/websocket?vsn=2.0.0&tab_id={tab}")
}

#[actix_rt::test]
async fn a_file_limit_holds_in_the_running_service() {
    let file = ConfigFile::new("tabs", "max-tabs-per-session = 1\n");
    let (_server, addr) = start_tabhub(&["--config", file.arg()]);
    let key = new_key();
    let mut a = Client::connect_url(&socket_url(addr, "a"), "a").await;
    a.join(&key, None).await;
    let mut b = Client::connect_url(&socket_url(addr, "b"), "b").await;
    let r = b.join_with(&key, json!({})).await;
    assert_eq!(r["response"]["reason"], "too_many_tabs");
}

#[actix_rt::test]
async fn with_no_demo_the_page_is_not_served_but_the_client_and_the_socket_are() {
    let (_server, addr) = start_tabhub(&["--no-demo"]);
    let http = awc::Client::default();
    for path in ["/", "/demo.js", "/demo.css"] {
        let page = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 404, "{path}");
    }
    let client = http
        .get(format!("http://{addr}/tabhub.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(client.status().as_u16(), 200);

    let key = new_key();
    let mut tab = Client::connect_url(&socket_url(addr, "t1"), "t1").await;
    tab.join(&key, None).await;
    let r = tab
        .event(&key, "add_todo", json!({"text": "no demo page"}))
        .await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));

    // Without the flag, the page is there.
    let (_server, addr) = start_tabhub(&[]);
    let page = http.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
}

#[actix_rt::test]
async fn the_admin_page_is_served_with_the_api_unless_no_admin() {
    let http = awc::Client::default();
    let status = |addr: SocketAddr| {
        let request = http.get(format!("http://{addr}/admin"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let (_with, addr) = start_tabhub(&["--api-token", "t0ken"]);
    assert_eq!(status(addr).await, 200);
    let (_without, addr) = start_tabhub(&["--api-token", "t0ken", "--no-admin"]);
    assert_eq!(status(addr).await, 404);
    let (_no_api, addr) = start_tabhub(&[]);
    assert_eq!(status(addr).await, 404, "no API, no admin page");
}
