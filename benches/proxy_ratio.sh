#!/usr/bin/env bash
# The app proxy under load, beside the embedded demo and bare, in one
# sitting: loadgen W2 (../shared/bench: 1000 sessions x 2 tabs, K=1)
# against `bare`, the given tabhub serving the demo, and the same tabhub
# with `--app-url` in front of examples/minimal_backend.rs (started once,
# on this machine too). Prints the summary, then the backend round trips:
# its /event calls per distinct event, and its /join calls.
#
#   benches/proxy_ratio.sh OUT.jsonl TABHUB_BIN
# Environment: BENCH_DIR (default ../shared/bench), REPEAT (3),
# BACKEND_BIND (127.0.0.1:8100).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
B=${BENCH_DIR:-$here/../shared/bench}
OUT=$(realpath -m "$1"); bin=$(realpath "$2")
BACKEND_BIND=${BACKEND_BIND:-127.0.0.1:8100}
export REPEAT=${REPEAT:-3} ONLY=W2 OUT
(cd "$B/bare" && cargo build --release -q) && (cd "$B/loadgen" && cargo build --release -q) || exit 1
(cd "$here" && cargo build --release -q --example minimal_backend) || exit 1
"$here/target/release/examples/minimal_backend" "$BACKEND_BIND" &
backend=$!
trap 'kill $backend 2>/dev/null' EXIT
sleep 1
stats() { python3 -c "import json,urllib.request;print(json.dumps(json.load(urllib.request.urlopen('http://$BACKEND_BIND/stats'))))"; }

NAME=bare "$B/suite.sh" "$B/bare/target/release/bare"
common=(--store memory --rate-events-per-sec 0 --max-tabs-per-session 128)
TABHUB_MAX_CONNS_PER_IP=0 TABHUB_NO_DEMO_PRESENCE=true NAME=demo "$B/suite.sh" "$bin" "${common[@]}"
before=$(stats)
TABHUB_MAX_CONNS_PER_IP=0 NAME=proxy "$B/suite.sh" "$bin" "${common[@]}" \
  --app-url "http://$BACKEND_BIND/tabhub"
after=$(stats)
python3 "$B/summarize.py" "$OUT"
python3 - "$before" "$after" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
d = {k: b[k] - a[k] for k in b}
print(f"backend during the proxy runs: {d}")
print(f"/event calls per distinct event: {d['event_calls'] / max(1, d['distinct_events']):.4f}")
PY
