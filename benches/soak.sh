#!/usr/bin/env bash
# W7, the soak: W3's 10,000 idle tabs (5,000 sessions) stay joined while W2
# (1000 sessions x 2 tabs, K=1) runs for MINUTES minutes against one tabhub
# (memory store, rate limit off, room for 1,000 tabs per session, no limit
# of sockets per address). The server's resident set is sampled every 10 s;
# at the end it prints the RSS at minute 2 and at the end, their ratio, and
# the W2 run's figures (seq violations, tabs behind after the drain, event
# errors: every tab must end with every delta of its session, in order).
#
#   benches/soak.sh OUT_DIR TABHUB_BIN [extra tabhub flags...]
# Environment: BENCH_DIR (default ../shared/bench), MINUTES (10),
# BIND (127.0.0.1:4100).
# Writes OUT_DIR/soak-rss.tsv (seconds, RSS KiB), OUT_DIR/soak-w2.json and
# OUT_DIR/soak-idle.json.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
B=${BENCH_DIR:-$here/../shared/bench}
out=$(realpath -m "$1"); bin=$(realpath "$2"); shift 2
MINUTES=${MINUTES:-10}; BIND=${BIND:-127.0.0.1:4100}
LG=$B/loadgen/target/release/loadgen
URL=ws://$BIND/socket/websocket
mkdir -p "$out"
(cd "$B/loadgen" && cargo build --release -q) || exit 1
ulimit -n "$(ulimit -Hn)"

TABHUB_MAX_CONNS_PER_IP=0 TABHUB_NO_DEMO_PRESENCE=true "$bin" --store memory --rate-events-per-sec 0 \
  --max-tabs-per-session 1000 --max-conns-per-ip 0 "$@" --bind "$BIND" > "$out/soak-server.log" 2>&1 &
server=$!
trap 'kill $server $idle $sampler 2>/dev/null' EXIT
sleep 1.5
hold=$((MINUTES * 60 + 60))
"$LG" idle --tabs 10000 --sessions 5000 --hold-s "$hold" --url "$URL" --server-pid "$server" --json \
  > "$out/soak-idle.json" 2> "$out/soak-idle.log" &
idle=$!
for _ in $(seq 1 120); do grep -q "ALL JOINED" "$out/soak-idle.json" "$out/soak-idle.log" 2>/dev/null && break; sleep 1; done
grep -q "ALL JOINED" "$out/soak-idle.json" "$out/soak-idle.log" || { echo "the idle tabs did not all join" >&2; exit 1; }
( t0=$(date +%s)
  while kill -0 "$server" 2>/dev/null; do
    printf '%s\t%s\n' $(( $(date +%s) - t0 )) "$(awk '/VmRSS/ {print $2}' /proc/$server/status)"
    sleep 10
  done ) > "$out/soak-rss.tsv" &
sampler=$!
"$LG" fanout --sessions 1000 --tabs 2 --in-flight 1 --duration-s $((MINUTES * 60)) --warmup-s 0 \
  --url "$URL" --server-pid "$server" --json 2> "$out/soak-w2.log" | tail -n1 > "$out/soak-w2.json"
kill "$sampler" 2>/dev/null
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows = [tuple(map(int, l.split())) for l in open(f"{out}/soak-rss.tsv") if len(l.split()) == 2]
at2 = min(rows, key=lambda r: abs(r[0] - 120))
end = rows[-1]
w2 = json.load(open(f"{out}/soak-w2.json"))
print(f"RSS: start {rows[0][1] / 1024:.0f} MB, minute 2 {at2[1] / 1024:.0f} MB, end ({end[0]} s) {end[1] / 1024:.0f} MB: "
      f"end / minute 2 = {end[1] / at2[1]:.3f}; max after minute 2 {max(r[1] for r in rows if r[0] >= at2[0]) / 1024:.0f} MB")
keys = ["deliveries_per_s", "events_per_s", "seq_violations", "tabs_behind_after_drain", "event_errors",
        "errors_total", "server_cpu_s_per_1m", "server_rss_peak_kb"]
print("W2 during the soak:", {k: w2.get(k) for k in keys})
PY
