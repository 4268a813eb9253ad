#!/usr/bin/env bash
# W5, the durable path, in one sitting: this disk's fsync time, then loadgen
# W1-K1 (1 session x 100 tabs, one event in flight: the reply's latency is
# one group commit) and W2 (1000 sessions x 2 tabs, K=1: throughput) against
# the given tabhub with the memory store and with the redb store (strict
# durability, the default: an event is acknowledged, and its delta sent,
# only once it is on disk). Rate limit off, room for 1,000 tabs per session,
# no limit of sockets per address.
#
#   benches/durable_ratio.sh OUT.jsonl TABHUB_BIN
# Environment: BENCH_DIR (default ../shared/bench), REPEAT (3), DATA (a
# directory on the disk to measure; default a new one under $TMPDIR).
#
# The fsync probe overwrites 4 KiB of a 64 KiB file and fsyncs it, 500
# times, in the redb store's directory; its line goes to OUT.jsonl too.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
B=${BENCH_DIR:-$here/../shared/bench}
OUT=$(realpath -m "$1"); bin=$(realpath "$2")
DATA=${DATA:-$(mktemp -d "${TMPDIR:-/tmp}/tabhub-w5.XXXXXX")}
mkdir -p "$DATA"
export REPEAT=${REPEAT:-3} ONLY="W1-K1 W2" OUT
(cd "$B/loadgen" && cargo build --release -q) || exit 1

python3 - "$DATA" "$OUT" <<'PY'
import json, os, statistics, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
os.pwrite(fd, bytes(65536), 0)
os.fsync(fd)
times = []
for i in range(500):
    os.pwrite(fd, os.urandom(4096), (i % 16) * 4096)
    t = time.perf_counter()
    os.fsync(fd)
    times.append((time.perf_counter() - t) * 1000)
os.close(fd)
os.unlink(path)
times.sort()
line = {"label": "fsync", "workload": "fsync", "fsync_p50_ms": round(statistics.median(times), 3),
        "fsync_p99_ms": round(times[int(len(times) * 0.99)], 3), "fsync_mean_ms": round(statistics.mean(times), 3)}
print(f"fsync of 4 KiB: p50 {line['fsync_p50_ms']} ms, p99 {line['fsync_p99_ms']} ms, mean {line['fsync_mean_ms']} ms")
with open(sys.argv[2], "a") as f:
    f.write(json.dumps(line) + "\n")
PY

common=(--rate-events-per-sec 0 --max-tabs-per-session 1000)
TABHUB_MAX_CONNS_PER_IP=0 TABHUB_NO_DEMO_PRESENCE=true NAME=memory "$B/suite.sh" "$bin" --store memory "${common[@]}"
TABHUB_MAX_CONNS_PER_IP=0 TABHUB_NO_DEMO_PRESENCE=true NAME=redb-strict "$B/suite.sh" "$bin" --store redb \
  --data "$DATA/redb" "${common[@]}"
python3 "$B/summarize.py" "$OUT"
du -sh "$DATA/redb" 2>/dev/null
