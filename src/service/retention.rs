//! The retention sweeper (`--session-ttl`): deletes from the store the
//! stopped sessions idle for longer than the TTL.
//!
//! Each tick it lists at most [`BATCH`] keys idle since before the cutoff
//! (oldest first, on the blocking pool; the store reads about that many
//! rows, not every key) and hands them to the supervisor, which fences
//! those with no live session, deletes the ones still idle on the blocking
//! pool, stamps the live ones as active (so they leave the head of the
//! index and the next listing reaches the idle keys behind them), and
//! lifts the fences. No actor thread waits for the store, the work of one
//! tick is bounded by the batch, and a batch that left keys at the head
//! (fenced, or a store call failed) is followed by a tick's pause, never
//! by the same listing at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::Addr;

use crate::app::App;
use crate::store::{blocking, SessionStore};
use crate::supervisor::{Expire, Supervisor};

/// Keys examined per tick, at most.
pub(super) const BATCH: usize = 256;

/// The pause between ticks: a tenth of the TTL, between 50 ms and 60 s,
/// so a session is deleted at most about a tenth of its TTL late.
pub(super) fn tick(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_millis(50), Duration::from_secs(60))
}

/// Runs until the service shuts down: every tick, expires one batch of
/// idle keys; after a full batch that moved every key, the next follows at once.
pub(super) async fn sweep<A: App>(
    store: Arc<dyn SessionStore>,
    supervisor: Addr<Supervisor<A>>,
    ttl: Duration,
) {
    let pause = tick(ttl);
    tracing::info!(
        ttl_ms = ttl.as_millis(),
        tick_ms = pause.as_millis(),
        "retention sweeper started"
    );
    let mut wait = pause;
    loop {
        tokio::time::sleep(wait).await;
        wait = pause;
        let Some(cutoff) = SystemTime::now().checked_sub(ttl) else {
            continue;
        };
        let lister = store.clone();
        let listed = blocking(None, move || lister.idle_before(cutoff, BATCH)).await;
        let keys = match listed {
            Ok(keys) => keys,
            Err(e) => {
                tracing::error!(error = %e, "could not list idle sessions");
                continue;
            }
        };
        if keys.is_empty() {
            continue;
        }
        let full = keys.len() == BATCH;
        match supervisor.send(Expire { keys, cutoff }).await {
            // Every key of a full batch left the head of the index
            // (deleted, or stamped active because its session is live):
            // the next batch is new keys, so it follows at once. Keys that
            // stayed would be listed again, so then the sweep waits a tick.
            Ok(Some(swept)) => {
                if full && swept.stuck == 0 {
                    wait = Duration::ZERO;
                }
            }
            // Shutting down, or the supervisor is gone.
            Ok(None) | Err(_) => break,
        }
    }
    tracing::info!("retention sweeper stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_is_a_tenth_of_the_ttl_within_bounds() {
        assert_eq!(
            tick(Duration::from_secs(30 * 24 * 3600)),
            Duration::from_secs(60)
        );
        assert_eq!(tick(Duration::from_secs(100)), Duration::from_secs(10));
        assert_eq!(tick(Duration::from_millis(100)), Duration::from_millis(50));
    }
}
