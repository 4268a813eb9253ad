//! The demo page in a real browser: runs `node --test tests/browser/`
//! (Node's test runner, Playwright's `playwright-core` driving Debian's
//! headless Chromium at `/usr/bin/chromium`) against the real `tabhub`
//! binary, which each scenario starts on a free port. The scenarios: two
//! pages with one token, a duplicated tab, a network blip (resume by
//! replay), a reload (snapshot), the leader on the visible page and a chain
//! whose page closed, toasts for the asking tab only, a screenshot of two
//! tabs side by side (`target/browser-screenshots/`), and the page telling
//! the truth (`truth.test.mjs`): the headline states that only a duplicated
//! or reloaded tab shares the session (sessionStorage), a blank todo says
//! why nothing was added, an over-long todo is refused with a sentence (not
//! the reason code), a todo added offline is listed as pending and then as
//! a real todo once the connection is back, and a todo refused after the
//! reconnect leaves the pending list and says why. The admin page
//! (`admin.test.mjs`) refuses a wrong API token, then shows the node's
//! counts, the demo page's session (short key, live, its tab and seq) and
//! totals from `/metrics`.
//!
//! The same scenarios run a second time with the app in another process:
//! `tabhub --app-url` in front of the example's Python backend
//! (`examples/python/`), which implements the demo's events.
//!
//! Needs Node.js, `npm ci --prefix tests/js` and `apt-get install chromium`
//! (and for the second run `bash examples/python/venv.sh`); it fails
//! (never skips) when one is missing.

mod common;

use std::time::Duration;

use common::node;

/// Every scenario of tests/browser/, with `env`.
fn run_scenarios(env: &[(&str, &str)]) {
    node::run_browser_tests(
        "tests/browser/",
        &["playwright-core"],
        env,
        Duration::from_secs(120),
        Duration::from_secs(600),
    );
}

#[test]
fn the_demo_page_works_in_a_real_browser() {
    run_scenarios(&[]);
}

#[test]
fn the_demo_page_works_in_a_real_browser_through_the_app_proxy_and_the_python_backend() {
    // Fails with the venv's install hint when it is missing.
    common::python::python();
    run_scenarios(&[("TABHUB_BACKEND", "python")]);
}
