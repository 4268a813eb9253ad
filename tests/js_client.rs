//! The project's JavaScript client, `assets/tabhub.js`, tested by Node's
//! built-in test runner (`node --test tests/js/client/`) against the real
//! `tabhub` binary: RFC 6902 conformance (the public JSON Patch suite),
//! snapshot, replay and current joins, pushes, effects, chains, tasks, the
//! leader flag and tab count, the MRU cap with summary joins, reconnects
//! after server-side drops and restarts, and protocol edge cases against a
//! scripted server.
//!
//! Needs Node.js (20 or later) and `npm ci --prefix tests/js` first; it
//! fails, never skips, when either is missing. The Node tests start their
//! own servers from the binary given in `TABHUB_BIN`.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long the whole Node run may take (it takes about 20 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn the_javascript_client_passes_its_node_tests_against_the_real_binary() {
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
        root.join("tests/js/node_modules/ws").is_dir(),
        "tests/js/node_modules/ws is missing: run `npm ci --prefix tests/js` first"
    );
    assert!(
        root.join("tests/js/client").is_dir(),
        "tests/js/client (the Node tests) is missing"
    );

    let mut child = Command::new("node")
        .current_dir(root)
        .args(["--test", "tests/js/client/"])
        .env("TABHUB_BIN", env!("CARGO_BIN_EXE_tabhub"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `node --test tests/js/client/`: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());

    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // Last resort: every Node test has its own 30 s timeout, so a
            // normal run ends (and stops its servers) well before this.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let report = format!(
        "=== node --test tests/js/client/ ===\n--- stdout ---\n{}\n--- stderr ---\n{}",
        stdout.join().unwrap(),
        stderr.join().unwrap()
    );
    match status {
        Some(status) if status.success() => {
            // The runner's closing counts, for `cargo test -- --nocapture`.
            let counts = ["# tests", "# pass", "# fail", "# cancelled", "# skipped"];
            for line in report
                .lines()
                .filter(|l| counts.iter().any(|c| l.starts_with(c)))
            {
                eprintln!("{line}");
            }
            assert!(
                report.contains("# fail 0"),
                "node exited 0 but did not report `# fail 0`\n{report}"
            );
            assert!(!report.contains("# tests 0"), "node ran no test\n{report}");
        }
        Some(status) => panic!("the JavaScript client's tests failed ({status})\n{report}"),
        None => {
            panic!("the JavaScript client's tests did not finish within {RUN_TIMEOUT:?}\n{report}")
        }
    }
}

/// Reads a pipe to its end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}
