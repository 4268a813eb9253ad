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

mod common;

use std::path::Path;
use std::time::Duration;

use common::node;

/// Where the tests expect Chromium (Debian's package).
const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn the_demo_page_works_in_a_real_browser() {
    node::require(&["playwright-core"]);
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing\n{}",
        node::INSTALL_HINT
    );
    let args = [
        "--test",
        "--test-reporter=spec",
        "--test-concurrency=1",
        "--test-timeout=120000",
        "tests/browser/",
    ];
    node::run(&args, &[], Duration::from_secs(600)).assert_tests_passed();
}
