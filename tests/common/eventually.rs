//! Waiting for something the service does in its own time: [`eventually`].
//!
//! The limit is there to turn a hang into a failure naming what never
//! happened; it is never a speed assertion, so it is generous.

use std::time::Duration;

use tabhub::{App, Hub};

use super::WAIT;

/// How often a condition is asked again.
const POLL: Duration = Duration::from_millis(10);

/// Waits until `condition` holds, asking it every 10 ms; panics with
/// "gave up waiting for {what}" if it still does not hold after
/// [`WAIT`] (10 s).
pub async fn eventually(what: &str, condition: impl AsyncFnMut() -> bool) {
    eventually_within(WAIT, what, condition).await;
}

/// [`eventually`] for a test with no runtime (blocking calls, as a store
/// makes): the thread sleeps between asks.
pub fn eventually_blocking(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what} ({} ms)",
            WAIT.as_millis()
        );
        std::thread::sleep(POLL);
    }
}

/// [`eventually`] with a limit of its own, for a wait that may last longer
/// than [`WAIT`] by design (a TTL on top, say).
pub async fn eventually_within(
    limit: Duration,
    what: &str,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what} ({} ms)",
            limit.as_millis()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `hub` has no live session: each one stopped (and saved, as
/// a stop saves before the supervisor forgets it).
pub async fn until_no_session<A: App>(hub: &Hub<A>) {
    eventually("every session to stop", async || {
        hub.stats().await.expect("the hub runs").sessions == 0
    })
    .await;
}
