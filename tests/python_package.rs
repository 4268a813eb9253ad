//! The Python package (`clients/python`, `tabhub`): runs its pytest suite
//! from the example's virtual environment with `TABHUB_BIN` set to the
//! binary under test. The suite starts that binary itself and checks the
//! sync and async server API clients (submit, read, idempotent event ids,
//! refusals, retries on a real `503 capacity` and on no answer) and the
//! FastAPI helpers of the app proxy behind a real `tabhub --app-url`.
//!
//! Needs `bash examples/python/venv.sh` (it installs the package editable,
//! with pytest); fails with that hint otherwise, never skips.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use common::process::Guard;
use common::python::{python, INSTALL_HINT};

/// The count before `word` in pytest's closing line (`12 passed in 9.1s`).
fn count(summary: &str, word: &str) -> usize {
    let words: Vec<&str> = summary
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .find(|pair| pair[1] == word)
        .and_then(|pair| pair[0].parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_python_package_passes_its_pytest_suite_against_the_real_binary() {
    let python = python();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let probe = Command::new(&python)
        .args(["-c", "import tabhub.fastapi, pytest"])
        .output()
        .expect("the venv's python runs");
    assert!(
        probe.status.success(),
        "the venv lacks the tabhub package or pytest: {INSTALL_HINT}\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );

    let mut command = Command::new(&python);
    command
        .current_dir(root.join("clients/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .env("TABHUB_BIN", env!("CARGO_BIN_EXE_tabhub"))
        // The demo without its presence list, as the suite counts seqs.
        .env("TABHUB_NO_DEMO_PRESENCE", "true")
        .process_group(0);
    let mut pytest = Guard::spawn(command);
    // The suite takes seconds; this is the last resort.
    let status = pytest.wait_for(Duration::from_secs(300));
    if status.is_none() {
        pytest.kill_group();
    }
    let output = pytest.output();
    let summary = output
        .lines()
        .rev()
        .find(|line| line.contains(" passed") || line.contains(" failed"))
        .unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "pytest failed ({status:?})\n{output}"
    );
    assert!(count(summary, "passed") > 0, "pytest ran no test\n{output}");
    for quiet in ["failed", "skipped", "xfailed", "error", "errors"] {
        assert_eq!(
            count(summary, quiet),
            0,
            "pytest reported {quiet}\n{output}"
        );
    }
}
