//! Graceful restart with the official Phoenix JavaScript client (npm
//! `phoenix` over npm `ws`, run by Node) against the real `tabhub` binary
//! and its redb store: tabs see the 1012 close on SIGTERM, the process exits
//! 0, phoenix reconnects by itself once the binary is back (same port, same
//! data dir) and the tabs resume by `current` or `replay`, never
//! `snapshot`, with their state intact; a tab a few deltas behind gets
//! exactly those deltas.
//!
//! The scenario lives in `tests/js/phoenix_restart.mjs`, which starts and
//! restarts the binary itself; it needs `npm ci --prefix tests/js` first.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the Node script may run (it has its own 40 s timeout).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!(
            "{prefix}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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

/// The Node script, in a process group of its own so that a timeout can kill
/// it together with the tabhub binaries it started. Killed when dropped.
struct Script {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Script {
    fn spawn(mut command: Command) -> Script {
        let mut child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), output.clone()),
            collect(child.stderr.take().unwrap(), output.clone()),
        ];
        Script {
            child,
            output,
            readers,
        }
    }

    /// Waits up to `limit` for the script to exit; `None` if it did not, in
    /// which case its whole process group (the script and any tabhub it
    /// started) has been killed.
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.join_readers();
                return Some(status);
            }
            if Instant::now() >= deadline {
                self.kill_group();
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs the script's process group. The script is not reaped yet,
    /// so the group id is still ours.
    fn kill_group(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_readers();
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill_group();
        }
    }
}

fn require_node_and_phoenix(root: &Path) {
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
}

#[test]
fn the_official_phoenix_client_survives_a_graceful_restart_and_resumes_by_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    require_node_and_phoenix(root);
    let data = TempDir::new("tabhub-restart");

    let mut node = Command::new("node");
    node.current_dir(root)
        .arg("tests/js/phoenix_restart.mjs")
        .env("TABHUB_BIN", env!("CARGO_BIN_EXE_tabhub"))
        .env("TABHUB_DATA", &data.0);
    let mut script = Script::spawn(node);
    let status = script.wait_for(SCRIPT_TIMEOUT);
    let report = format!(
        "=== node tests/js/phoenix_restart.mjs (TABHUB_DATA={}) ===\n{}",
        data.0.display(),
        script.output()
    );
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("the graceful-restart scenario failed ({status})\n{report}"),
        None => panic!(
            "the graceful-restart scenario did not finish within {SCRIPT_TIMEOUT:?}\n{report}"
        ),
    }
}
