//! A real `redis-server` (Debian's package) on a free loopback port, with
//! its own data directory, stopped (and its directory removed) when
//! dropped. A test that needs it fails, never skips, when it is missing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::process::{free_port, start_tabhub, Guard};
use super::Client;

/// How long `redis-server` may take to accept connections.
const REDIS_START: Duration = Duration::from_secs(10);

/// A running `redis-server`.
pub struct Redis {
    server: Option<Guard>,
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts `redis-server` with an append-only file synced on every
    /// write (`appendfsync always`): what it acknowledged survives its own
    /// restart.
    pub fn start() -> Redis {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tabhub-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Redis {
            server: None,
            port,
            dir,
        };
        redis.run();
        redis
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn run(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--appendonly")
            .arg("yes")
            .arg("--appendfsync")
            .arg("always")
            .arg("--save")
            .arg("");
        if which("redis-server").is_none() {
            panic!(
                "these tests need redis-server, which is not installed: \
                 apt-get install redis-server (Debian's package; .ci/run installs it)"
            );
        }
        let mut server = Guard::spawn(command);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        server.wait_listening("redis-server", addr, REDIS_START);
        self.server = Some(server);
    }

    /// Runs one command with `redis-cli` (Debian's redis-tools, which
    /// redis-server's package pulls in); its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("redis-cli: {e} (apt-get install redis-tools)"));
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills `redis-server` (SIGKILL): what it had not written to its
    /// append-only file is lost, as in a crash.
    pub fn kill(&mut self) {
        self.server = None;
    }

    /// Starts `redis-server` again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.server = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The path of `program` on `PATH`, if it is there.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A tab `tab_id` connected to the node at `addr`.
pub async fn tab_on(addr: SocketAddr, tab_id: &str) -> Client {
    let url = format!("http://{addr}/socket/websocket?vsn=2.0.0&tab_id={tab_id}");
    Client::connect_url(&url, tab_id).await
}

/// A `tabhub` node on `redis` with a 600 ms lease and no rate limit.
pub fn start_node(redis: &Redis) -> (Guard, SocketAddr) {
    start_node_with(redis, &[])
}

/// As [`start_node`], with `extra` flags.
pub fn start_node_with(redis: &Redis, extra: &[&str]) -> (Guard, SocketAddr) {
    let url = redis.url();
    let mut args = vec![
        "--redis-url",
        &url,
        "--redis-lease-ms",
        "600",
        "--rate-events-per-sec",
        "0",
    ];
    args.extend_from_slice(extra);
    start_tabhub(&args)
}

/// Two nodes as [`start_node`] starts them.
pub fn two_nodes(redis: &Redis) -> ((Guard, SocketAddr), (Guard, SocketAddr)) {
    (start_node(redis), start_node(redis))
}

/// The value of the unlabelled metric `name` on the node at `addr`.
pub async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let mut got = awc::Client::default()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(got.body().await.unwrap().to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}
