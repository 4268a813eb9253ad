//! The official Phoenix JavaScript client (npm `phoenix` over npm `ws`, run
//! by Node) against the real `tabhub` binary: join, push, a server-side drop
//! for silence (1001), phoenix's own reconnect and rejoin with its cursor.
//! The client side is `tests/js/phoenix_client.mjs`; it needs
//! `npm ci --prefix tests/js` first.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The server's client timeout: short, so the silent client is dropped soon.
const CLIENT_TIMEOUT_MS: u64 = 1500;
/// How long the server may take to accept connections.
const SERVER_START: Duration = Duration::from_secs(10);
/// How long the Node script may run (it has its own 20 s timeout).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(40);

/// A child process killed (and reaped) when dropped, with its output
/// collected in the background.
struct Guard {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Guard {
    fn spawn(mut command: Command) -> Guard {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Guard {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Waits up to `limit` for the process to exit; `None` if it did not.
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The pipes close with the process: read them to the end.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the process printed so far.
    fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&self.stdout.lock().unwrap()),
            String::from_utf8_lossy(&self.stderr.lock().unwrap()),
        )
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies `from` into `into` on a thread until end of file.
fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn the_official_phoenix_js_client_joins_pushes_and_rejoins_with_its_cursor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "Node.js is required for this test: `node --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("Node.js is required for this test: cannot run `node --version`: {e}"),
    }
    assert!(
        root.join("tests/js/node_modules/phoenix").is_dir()
            && root.join("tests/js/node_modules/ws").is_dir(),
        "tests/js/node_modules lacks phoenix or ws: run `npm ci --prefix tests/js` first"
    );

    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = Command::new(env!("CARGO_BIN_EXE_tabhub"));
    server.args([
        "--bind",
        &addr.to_string(),
        "--client-timeout-ms",
        &CLIENT_TIMEOUT_MS.to_string(),
    ]);
    let mut server = Guard::spawn(server);

    let deadline = Instant::now() + SERVER_START;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = server.wait_for(Duration::ZERO) {
            panic!("tabhub exited early ({status})\n{}", server.output());
        }
        assert!(
            Instant::now() < deadline,
            "tabhub did not listen on {addr} within {SERVER_START:?}\n{}",
            server.output()
        );
        thread::sleep(Duration::from_millis(50));
    }

    let mut node = Command::new("node");
    node.current_dir(root).args([
        "tests/js/phoenix_client.mjs",
        &format!("ws://{addr}/socket"),
        &CLIENT_TIMEOUT_MS.to_string(),
    ]);
    let mut script = Guard::spawn(node);
    let status = script.wait_for(SCRIPT_TIMEOUT);
    let report = format!(
        "=== node tests/js/phoenix_client.mjs ===\n{}\n=== tabhub ===\n{}",
        script.output(),
        server.output()
    );
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("the phoenix.js client failed ({status})\n{report}"),
        None => panic!("the phoenix.js client did not finish within {SCRIPT_TIMEOUT:?}\n{report}"),
    }
}
