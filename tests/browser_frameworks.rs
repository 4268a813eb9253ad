//! The framework bindings in a real browser: runs `node --test
//! tests/frameworks/` (Node's test runner, `playwright-core` driving
//! Debian's headless Chromium at `/usr/bin/chromium`) against the real
//! `tabhub` binary. For each of React (`tabhub/react`), Vue (`tabhub/vue`)
//! and Svelte (a Session as a store, `tabhub/svelte`), the example under
//! `examples/<name>/` is bundled by esbuild against the staged npm package
//! (`examples/frontend.mjs`), served from its own origin which tabhub lets
//! in with `--allowed-origin`, and opened in two pages of one browser: a
//! todo pushed on one renders on the other, a toggle on the other renders on
//! the first, a refused push shows its reason, and the connection status
//! shows open, offline and open again. Beside them, `bindings.test.mjs`
//! checks the bindings on the staged package without a browser: the Vue
//! refs follow the hub and stop with their effect scope (a component's
//! unmount), a ref key moves them to the new session, and the React hook
//! renders on the server (`renderToString`) without connecting.
//!
//! Needs Node.js, `npm ci --prefix tests/js` (react, react-dom, vue,
//! svelte, esbuild, TypeScript, playwright-core) and
//! `apt-get install chromium`; it fails (never skips) when one is missing.

mod common;

use std::time::Duration;

use common::node;

#[test]
fn each_framework_example_shares_one_session_between_two_pages_in_a_real_browser() {
    let packages = [
        "playwright-core",
        "typescript",
        "esbuild",
        "react",
        "react-dom",
        "vue",
        "svelte",
    ];
    // Each example stages the package (tsc) and bundles it before its
    // browser scenario: minutes on a busy machine, so a generous last resort.
    node::run_browser_tests(
        "tests/frameworks/",
        &packages,
        &[],
        Duration::from_secs(600),
        Duration::from_secs(1800),
    );
}
