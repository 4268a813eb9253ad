//! The example's Python backend (`examples/python/`, FastAPI) as a real
//! process, beside a real `tabhub --app-url` process: the two processes of
//! "tabhub as a service for any backend".
//!
//! Needs the virtual environment `bash examples/python/venv.sh` makes
//! (`target/python-venv`, or `$TABHUB_PY_VENV`); without it, a test fails
//! with a message saying so.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::process::{free_port, start_tabhub, Guard, SERVER_START};

/// The server API token the pair shares.
pub const API_TOKEN: &str = "test-api-token-0123456789";

/// What to run when the virtual environment is missing.
pub const INSTALL_HINT: &str =
    "the Python backend's virtual environment is missing: run `bash examples/python/venv.sh` \
     (it installs FastAPI and uvicorn from PyPI into target/python-venv)";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python: `$TABHUB_PY_VENV/bin/python`, else
/// `target/python-venv/bin/python`.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("TABHUB_PY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/python-venv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} not found: {INSTALL_HINT}",
        python.display()
    );
    python
}

/// The Python backend on `port`, calling tabhub's API at `api_url`.
pub fn start_backend(port: u16, api_url: &str, env: &[(&str, &str)]) -> Guard {
    let mut command = Command::new(python());
    command
        .current_dir(root().join("examples/python"))
        .args(["app.py", "--host", "127.0.0.1", "--port", &port.to_string()])
        .env("TABHUB_API_URL", api_url)
        .env("TABHUB_API_TOKEN", API_TOKEN)
        .envs(env.iter().copied());
    let mut backend = Guard::spawn(command);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + SERVER_START;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = backend.wait_for(Duration::ZERO) {
            panic!(
                "the Python backend exited early ({status})\n{}",
                backend.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the Python backend did not listen on {addr} within {SERVER_START:?}\n{}",
            backend.output()
        );
        thread::sleep(Duration::from_millis(50));
    }
    backend
}

/// The two processes: the Python backend and `tabhub --app-url` (redb,
/// in a data directory of its own), wired to each other.
pub struct Pair {
    pub tabhub: Guard,
    pub backend: Guard,
    /// tabhub's address.
    pub addr: SocketAddr,
    pub backend_port: u16,
}

impl Pair {
    /// Starts both; `args` are extra tabhub flags, `env` the backend's.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Pair {
        let backend_port = free_port();
        let app_url = format!("http://127.0.0.1:{backend_port}/tabhub");
        let mut all = vec!["--app-url", &app_url, "--api-token", API_TOKEN];
        all.extend_from_slice(args);
        let (tabhub, addr) = start_tabhub(&all);
        let backend = start_backend(backend_port, &format!("http://{addr}/api"), env);
        Pair {
            tabhub,
            backend,
            addr,
            backend_port,
        }
    }

    /// A WebSocket URL for tab `tab`, with extra `query` (`a=b&c=d`).
    pub fn socket_url(&self, tab: &str, query: &str) -> String {
        let extra = if query.is_empty() {
            String::new()
        } else {
            format!("&{query}")
        };
        format!(
            "http://{}/socket/websocket?vsn=2.0.0&tab_id={tab}{extra}",
            self.addr
        )
    }

    /// Stops the backend (SIGKILL), as a crash would.
    pub fn stop_backend(&mut self) {
        self.backend.kill_now();
    }

    /// Starts the backend again on the same port.
    pub fn restart_backend(&mut self, env: &[(&str, &str)]) {
        self.backend = start_backend(self.backend_port, &format!("http://{}/api", self.addr), env);
    }

    /// Both processes' output, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "=== tabhub ===\n{}\n=== backend ===\n{}",
            self.tabhub.output(),
            self.backend.output()
        )
    }
}
