#!/usr/bin/env bash
# The standard workloads (../shared/bench: W1-K32, W1-K1-closed, W2, W3 and
# W4 by default) against
# `bare` and each given tabhub binary, in one sitting, so figures can be
# reported as ratios to bare. Each tabhub runs with the memory store, no rate
# limit, room for 1,000 tabs per session, and no limit of sockets per address (every
# loadgen socket comes from 127.0.0.1; set by environment variable, which
# binaries older than that limit ignore), and the demo without its presence
# list (a delta per join, which bare does not make; older binaries ignore
# the variable too).
#
#   benches/bare_ratio.sh OUT.jsonl TABHUB_BIN...
# Environment: BENCH_DIR (default ../shared/bench), REPEAT (3), ONLY.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
B=${BENCH_DIR:-$here/../shared/bench}
OUT=$(realpath -m "$1"); shift
export REPEAT=${REPEAT:-3} ONLY=${ONLY:-"W1-K32 W1-K1-closed W2 W3 W4"} OUT
(cd "$B/bare" && cargo build --release -q) && (cd "$B/loadgen" && cargo build --release -q) || exit 1
NAME=bare "$B/suite.sh" "$B/bare/target/release/bare"
for bin in "$@"; do
  TABHUB_MAX_CONNS_PER_IP=0 TABHUB_NO_DEMO_PRESENCE=true NAME="$(basename "$bin")-mem" "$B/suite.sh" "$bin" --store memory \
    --rate-events-per-sec 0 --max-tabs-per-session 1000
done
python3 "$B/summarize.py" "$OUT"
