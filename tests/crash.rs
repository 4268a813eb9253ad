//! Crash safety with the durable store: the binary is killed with SIGKILL
//! mid-stream, five times, and restarted on the same data directory. Every
//! event that got an ok reply is in the state, seqs are gapless and never go
//! back, and reconnecting tabs resume by replay (or current), never snapshot.
#![allow(clippy::unwrap_used)]

mod common;

use common::stream::{killed_mid_stream, Rejoin};

const ROUNDS: usize = 5;

#[actix_rt::test]
async fn killed_mid_stream_five_times_nothing_acknowledged_is_lost_and_tabs_resume_by_replay() {
    let dir = std::env::temp_dir().join(format!("tabhub-crash-{}", uuid::Uuid::new_v4().simple()));
    let data = dir.to_string_lossy().into_owned();
    let args = [
        "--store",
        "redb",
        "--data",
        &data,
        "--rate-events-per-sec",
        "0",
    ];
    killed_mid_stream(&args, ROUNDS, Rejoin::Once).await;
    let _ = std::fs::remove_dir_all(&dir);
}
