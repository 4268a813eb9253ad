//! The demo page in a real browser: runs `node --test tests/browser/`
//! (Node's test runner, Playwright's `playwright-core` driving Debian's
//! headless Chromium at `/usr/bin/chromium`) against the real `tabhub`
//! binary, which each scenario starts on a free port. The scenarios: two
//! pages with one token, a duplicated tab, a network blip (resume by
//! replay), a reload (snapshot), the leader on the visible page and a chain
//! whose page closed, toasts for the asking tab only, and a screenshot of
//! two tabs side by side (`target/browser-screenshots/`).
//!
//! Needs Node.js, `npm ci --prefix tests/js` and `apt-get install chromium`;
//! it fails (never skips) when one is missing.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Where the tests expect Chromium (Debian's package).
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the whole browser suite may run.
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long one test may run (Node's `--test-timeout`, ms).
const TEST_TIMEOUT_MS: u64 = 120_000;
/// How to install what the suite needs.
const HOW_TO_INSTALL: &str =
    "CI installs them with `apt-get install chromium` and `npm ci --prefix tests/js`";

#[test]
fn the_demo_page_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    check_prerequisites(root);

    let mut command = Command::new("node");
    command
        .current_dir(root)
        .args([
            "--test",
            "--test-reporter=spec",
            "--test-concurrency=1",
            &format!("--test-timeout={TEST_TIMEOUT_MS}"),
            "tests/browser/",
        ])
        .env("TABHUB_BIN", env!("CARGO_BIN_EXE_tabhub"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so a timeout can kill the whole tree (node,
    // its test files, Chromium and the tabhub servers).
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);

    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node --test tests/browser/`: {e}"));
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let status = wait(&mut child, SUITE_TIMEOUT);
    let stdout = finish(stdout);
    let stderr = finish(stderr);
    let report =
        format!("=== node --test tests/browser/: stdout ===\n{stdout}\n=== stderr ===\n{stderr}");
    match status {
        // Shown with `--nocapture`.
        Some(status) if status.success() => eprintln!("{report}"),
        Some(status) => panic!("the browser tests failed ({status})\n{report}"),
        None => panic!("the browser tests did not finish within {SUITE_TIMEOUT:?}\n{report}"),
    }
}

/// Panics with instructions if node, playwright-core or Chromium is missing.
fn check_prerequisites(root: &Path) {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "Node.js is required for the browser tests: `node --version` failed ({}): {}\n{HOW_TO_INSTALL}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "Node.js is required for the browser tests: cannot run `node --version`: {e}\n{HOW_TO_INSTALL}"
        ),
    }
    let playwright = root.join("tests/js/node_modules/playwright-core");
    assert!(
        playwright.join("package.json").is_file(),
        "{} is missing: the browser tests need playwright-core\n{HOW_TO_INSTALL}",
        playwright.display()
    );
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: the browser tests need Debian's Chromium\n{HOW_TO_INSTALL}"
    );
}

/// Reads a pipe to its end on a thread.
fn collect(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    })
}

fn finish(reader: thread::JoinHandle<Vec<u8>>) -> String {
    String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned()
}

/// Waits up to `limit` for `child`; on timeout kills its process group and
/// returns `None`.
fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(e) => panic!("cannot wait for node: {e}"),
        }
        if Instant::now() >= deadline {
            #[cfg(unix)]
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(100));
    }
}
