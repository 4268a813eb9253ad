#!/usr/bin/env python3
"""Scale-out W2 on one machine: a redis-server, N tabhub nodes on it, and
loadgen fanout with 1000 sessions x 2 tabs (or W1, SHAPE below), the two tabs of each session on
different nodes (docs/scale-out.md, "Measured").

    python3 benches/nodes.py OUT.jsonl TABHUB_BIN [NODES...]   (default 1 2 3)

For N = 1 both tabs are on the one node. For N = 2 one loadgen spreads the
tabs over both (tab i on node i mod 2). For N = 3 three loadgens run at
once, 333 sessions each, on the node pairs (0,1), (1,2), (2,0), so every
node has tabs and sessions.

CPU-seconds of every node and of redis-server come from /proc/PID/stat,
sampled over a window inside every loadgen's measuring window (from the
last one's start + 0.5 s to the first one's end - 0.5 s); deliveries and
events in that window are the loadgens' per-second rates times its length.
Redis commands per event come from INFO commandstats over the same window.
One JSON line per N goes to OUT; a table to stdout.

Environment: BENCH_DIR (../shared/bench), DURATION_S (10), WARMUP_S (2),
APPENDFSYNC (always), LEASE_MS (5000), SHAPE (W2; or W1: one session x
100 tabs, 32 events in flight, its tabs alternating over the nodes, for N
= 1 or 2).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.environ.get("BENCH_DIR", os.path.join(HERE, "..", "..", "shared", "bench"))
LOADGEN = os.path.join(BENCH, "loadgen", "target", "release", "loadgen")
DURATION = float(os.environ.get("DURATION_S", "10"))
WARMUP = float(os.environ.get("WARMUP_S", "2"))
FSYNC = os.environ.get("APPENDFSYNC", "always")
LEASE = os.environ.get("LEASE_MS", "5000")
TICK = os.sysconf("SC_CLK_TCK")
SHAPE = os.environ.get("SHAPE", "W2")
# Per shape: sessions (all of them, over every loadgen), tabs, in flight.
SHAPES = {"W2": (1000, 2, 1), "W1": (1, 100, 32)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"{what} exited: {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} does not listen on {port}")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def commandstats(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "commandstats"],
                         capture_output=True, text=True, check=True).stdout
    calls = {}
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            calls[name] = int(rest.split(",")[0].split("=")[1])
    return calls


def run(n, bin_path):
    tmp = tempfile.mkdtemp(prefix="tabhub-nodes-")
    rport = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--dir", tmp,
         "--appendonly", "yes", "--appendfsync", FSYNC, "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(rport, redis, "redis-server")
    nodes, ports = [], []
    env = dict(os.environ, TABHUB_MAX_CONNS_PER_IP="0", TABHUB_NO_DEMO_PRESENCE="true",
               RUST_LOG="warn")
    for i in range(n):
        port = free_port()
        log = open(os.path.join(tmp, f"node{i}.log"), "w")
        p = subprocess.Popen(
            [bin_path, "--bind", f"127.0.0.1:{port}", "--redis-url", f"redis://127.0.0.1:{rport}",
             "--redis-lease-ms", LEASE, "--rate-events-per-sec", "0",
             "--max-tabs-per-session", "1000"],
            stdout=log, stderr=log, env=env)
        wait_port(port, p, f"node {i}")
        nodes.append(p)
        ports.append(port)
    url = lambda i: f"ws://127.0.0.1:{ports[i % n]}/socket/websocket"
    sessions_all, tabs, in_flight = SHAPES[SHAPE]
    if n == 1:
        plans = [(sessions_all, url(0))]
    elif n == 2:
        plans = [(sessions_all, f"{url(0)},{url(1)}")]
    elif SHAPE == "W2":
        plans = [(sessions_all // 3, f"{url(i)},{url(i + 1)}") for i in range(3)]
    else:
        sys.exit(f"SHAPE={SHAPE} runs on 1 or 2 nodes")
    gens = []
    for sessions, urls in plans:
        err = open(os.path.join(tmp, f"loadgen{len(gens)}.err"), "w+")
        g = subprocess.Popen(
            [LOADGEN, "fanout", "--url", urls, "--sessions", str(sessions), "--tabs", str(tabs),
             "--in-flight", str(in_flight), "--duration-s", str(DURATION), "--warmup-s",
             str(WARMUP), "--json", "--label", f"nodes-{n}-{SHAPE}"],
            stdout=subprocess.PIPE, stderr=err, text=True)
        gens.append((g, err))
    # Each loadgen measures from its "joined" line + warmup for DURATION.
    starts = [None] * len(gens)
    while None in starts:
        for i, (_, err) in enumerate(gens):
            if starts[i] is None:
                err.seek(0)
                if "  joined " in err.read():
                    starts[i] = time.monotonic() + WARMUP
        time.sleep(0.02)
    begin, end = max(starts) + 0.5, min(starts) + DURATION - 0.5
    time.sleep(max(0.0, begin - time.monotonic()))
    pids = [p.pid for p in nodes] + [redis.pid]
    c0, s0, t0 = [cpu_s(p) for p in pids], commandstats(rport), time.monotonic()
    time.sleep(max(0.0, end - time.monotonic()))
    c1, s1, t1 = [cpu_s(p) for p in pids], commandstats(rport), time.monotonic()
    reports = []
    for g, _ in gens:
        out, _ = g.communicate()
        reports.append(json.loads(out.strip().splitlines()[-1]))
    for p in nodes + [redis]:
        p.send_signal(signal.SIGKILL)
        p.wait()
    window = t1 - t0
    deliveries = sum(r["deliveries_per_s"] for r in reports) * window
    events = sum(r["events_per_s"] for r in reports) * window
    node_cpu = [b - a for a, b in zip(c0[:-1], c1[:-1])]
    redis_cpu = c1[-1] - c0[-1]
    calls = {k: v - s0.get(k, 0) for k, v in s1.items() if v - s0.get(k, 0) > 0}
    calls.pop("info", None)
    row = {
        "shape": SHAPE,
        "nodes": n,
        "appendfsync": FSYNC,
        "window_s": round(window, 2),
        "events_per_s": round(events / window),
        "deliveries_per_s": round(deliveries / window),
        "node_cpu_s": [round(c, 2) for c in node_cpu],
        "redis_cpu_s": round(redis_cpu, 2),
        "cpu_s_per_1m_deliveries": round((sum(node_cpu) + redis_cpu) / deliveries * 1e6, 1),
        "redis_cpu_s_per_1m_deliveries": round(redis_cpu / deliveries * 1e6, 1),
        "redis_commands_per_event": round(sum(calls.values()) / events, 2),
        "redis_calls_per_event": {k: round(v / events, 3) for k, v in sorted(calls.items())},
        "errors": sum(r["errors_total"] for r in reports),
        "seq_violations": sum(r["seq_violations"] for r in reports),
        "tabs_joined": sum(r["tabs_joined"] for r in reports),
        "lat_reply_p50_ms": [r["lat_reply_p50_ms"] for r in reports],
        "lat_last_tab_p99_ms": [r["lat_last_tab_p99_ms"] for r in reports],
    }
    subprocess.run(["rm", "-rf", tmp])
    return row


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, bin_path = sys.argv[1], os.path.abspath(sys.argv[2])
    counts = [int(a) for a in sys.argv[3:]] or [1, 2, 3]
    if not os.path.exists(LOADGEN):
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=os.path.join(BENCH, "loadgen"), check=True)
    with open(out, "a") as f:
        for n in counts:
            row = run(n, bin_path)
            f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
