//! Running Node.js scripts and test suites from cargo tests. They fail
//! loudly, never skip, when Node or a package is missing.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::process::Guard;

/// How CI gets what these tests need.
pub const INSTALL_HINT: &str =
    "CI installs them: `apt-get install nodejs npm chromium` and `npm ci --prefix tests/js`";

/// The crate's root (tests run node from there).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Panics unless `node --version` runs and each of `packages` is installed
/// in `tests/js/node_modules`.
pub fn require(packages: &[&str]) {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "Node.js is required: `node --version` failed ({}): {}\n{INSTALL_HINT}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("Node.js is required: cannot run `node --version`: {e}\n{INSTALL_HINT}"),
    }
    for package in packages {
        let dir = root().join("tests/js/node_modules").join(package);
        assert!(
            dir.join("package.json").is_file(),
            "{} is missing\n{INSTALL_HINT}",
            dir.display()
        );
    }
}

/// A directory under the system's temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `<tmp>/<prefix>-<unique>`.
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a node run ended, with everything it printed.
pub struct NodeRun {
    /// `None` if it ran out of time (and was killed with all it started).
    pub status: Option<ExitStatus>,
    /// stdout and stderr.
    pub output: String,
    what: String,
    timeout: Duration,
}

impl NodeRun {
    /// Panics with the output (and `context`, e.g. a server's log) unless
    /// node exited 0 in time.
    pub fn assert_success(&self, context: &str) {
        let report = format!("=== {} ===\n{}\n{context}", self.what, self.output);
        match self.status {
            Some(status) if status.success() => {}
            Some(status) => panic!("{} failed ({status})\n{report}", self.what),
            None => panic!(
                "{} did not finish within {:?}\n{report}",
                self.what, self.timeout
            ),
        }
    }

    /// For `node --test`: as [`NodeRun::assert_success`], and the runner
    /// must report no failure and at least one test (TAP `# fail 0` or the
    /// spec reporter's `ℹ fail 0`). Prints its counts (see `--nocapture`).
    pub fn assert_tests_passed(&self) {
        self.assert_success("");
        let count = |name: &str| {
            self.output.lines().find_map(|l| {
                let l = l.trim_start_matches(['#', 'ℹ', ' ']);
                l.strip_prefix(name)?.trim().parse::<u64>().ok()
            })
        };
        let (tests, fail) = (count("tests"), count("fail"));
        eprintln!("{}: tests {tests:?}, fail {fail:?}", self.what);
        assert_eq!(
            fail,
            Some(0),
            "{} did not report `fail 0`\n{}",
            self.what,
            self.output
        );
        assert!(
            tests.is_some_and(|n| n > 0),
            "{} ran no test\n{}",
            self.what,
            self.output
        );
        // A skipped or todo test is a test that did not run: none allowed.
        for quiet in ["skipped", "todo"] {
            assert_eq!(
                count(quiet).unwrap_or(0),
                0,
                "{} reported {quiet} tests\n{}",
                self.what,
                self.output
            );
        }
    }
}

/// Where the browser tests expect Chromium (Debian's package).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs the node test files of `dir` (Playwright driving [`CHROMIUM`]) one
/// at a time, each with `test_timeout` at most, and asserts they passed;
/// fails with the install hint when `packages` or Chromium are missing.
/// `timeout` is the last resort for the whole run.
pub fn run_browser_tests(
    dir: &str,
    packages: &[&str],
    env: &[(&str, &str)],
    test_timeout: Duration,
    timeout: Duration,
) {
    require(packages);
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing\n{INSTALL_HINT}"
    );
    let test_timeout = format!("--test-timeout={}", test_timeout.as_millis());
    let args = [
        "--test",
        "--test-reporter=spec",
        "--test-concurrency=1",
        &test_timeout,
        dir,
    ];
    run(&args, env, timeout).assert_tests_passed();
}

/// Runs `node <args>` from the crate root with `TABHUB_BIN` set to the
/// binary under test, `TABHUB_NO_DEMO_PRESENCE=true`, and `env`, in a process group of its own, so that
/// running out of `timeout` kills node and everything it started (test
/// files, Chromium, tabhub servers).
pub fn run(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> NodeRun {
    let mut command = Command::new("node");
    command
        .current_dir(root())
        .args(args)
        .env("TABHUB_BIN", env!("CARGO_BIN_EXE_tabhub"))
        // The demo as the protocol's tests count seqs: without its presence
        // list (tests/browser/presence.test.mjs serves it with one).
        .env("TABHUB_NO_DEMO_PRESENCE", "true")
        .envs(env.iter().copied())
        .process_group(0);
    let mut node = Guard::spawn(command);
    let status = node.wait_for(timeout);
    if status.is_none() {
        node.kill_group();
    }
    NodeRun {
        status,
        output: node.output(),
        what: format!("node {}", args.join(" ")),
        timeout,
    }
}
