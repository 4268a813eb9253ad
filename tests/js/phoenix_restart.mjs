// Graceful restart with the official Phoenix JavaScript client (npm
// `phoenix`, over npm `ws`) against the real tabhub binary and its redb
// store. Run by tests/restart.rs:
//
//   TABHUB_BIN=/path/to/tabhub TABHUB_DATA=/fresh/dir node tests/js/phoenix_restart.mjs
//
// The script starts the binary itself (`--store redb --data $TABHUB_DATA
// --bind 127.0.0.1:PORT`, PORT free), and restarts it on the same port and
// data dir. Scenario (docs/protocol.md sections 5 to 8, 12 and 14):
//   1. Tabs A ("a") and B ("b"), one phoenix Socket each, join
//      session:<random key> with a join params function sending the cursor
//      of the state they hold (null at first: snapshot at seq 0).
//   2. A pushes 3 add_todo events: both tabs reach seq 3.
//   3. B disconnects on purpose; A pushes 2 more: A is at seq 5, B's cursor
//      is 2 deltas behind (seq 3).
//   4. SIGTERM: A sees its connection closed with 1012 and the process
//      exits with code 0 within 10 s.
//   5. The binary starts again (same port, same data dir). A reconnects by
//      itself (phoenix's reconnect timer) and rejoins: resume "current" at
//      seq 5, same epoch. B reconnects (socket.connect()) and rejoins:
//      resume "replay" with exactly the deltas seq 4 and 5, same epoch.
//      Nobody ever gets "snapshot" after the first join.
//   6. A pushes one more event: both get the delta seq 6 and hold the same
//      state, 6 todos with the texts sent, in order.
// Exits 0 on success; prints FAIL, the join replies, the frames seen and the
// server's output and exits 1 otherwise (global timeout: 40 s). The child
// binary is always killed on exit.

import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import net from "node:net";
import { isDeepStrictEqual } from "node:util";

import { Socket } from "phoenix";
import { applyPatch } from "../../assets/tabhub.js";
import WebSocket from "ws";

const GLOBAL_TIMEOUT_MS = 40_000;
/** How long the process may take to exit after SIGTERM. */
const EXIT_LIMIT_MS = 10_000;
/** How long the binary may take to accept TCP connections. */
const START_LIMIT_MS = 10_000;
/** Default wait for one step of the scenario. */
const STEP_MS = 10_000;

const started = Date.now();
const trace = [];
const serverLog = [];
const joinReplies = [];

function elapsed() {
  return `${String(Date.now() - started).padStart(5)} ms`;
}

function log(message) {
  console.log(`[${elapsed()}] ${message}`);
}

function record(line) {
  trace.push(`[${elapsed()}] ${line}`);
}

const show = (value) => JSON.stringify(value);

// ---------------------------------------------------------------------------
// Failing, cleaning up.

let finished = false;
const children = new Set();

function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

process.on("exit", killChildren);

function fail(message) {
  if (finished) return;
  finished = true;
  console.error(`FAIL: ${message}`);
  console.error("--- join replies ---");
  for (const j of joinReplies) console.error(show(j));
  console.error("--- frame trace (last 150) ---");
  for (const line of trace.slice(-150)) console.error(line);
  console.error("--- tabhub output (last 80 lines) ---");
  for (const line of serverLog.slice(-80)) console.error(line);
  killChildren();
  process.exit(1);
}

function check(condition, message) {
  if (!condition) {
    fail(message);
    // fail() exits; throw in case it was called after `finished`.
    throw new Error(message);
  }
}

let stage = "starting";
setTimeout(
  () => fail(`global timeout (${GLOBAL_TIMEOUT_MS} ms) while: ${stage}`),
  GLOBAL_TIMEOUT_MS,
).unref();
process.on("uncaughtException", (e) => fail(`uncaught exception: ${e?.stack ?? e}`));
process.on("unhandledRejection", (e) => fail(`unhandled rejection: ${e?.stack ?? e}`));
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(signal, () => fail(`received ${signal} while: ${stage}`));
}

const bin = process.env.TABHUB_BIN;
const dataDir = process.env.TABHUB_DATA;
if (!bin || !dataDir) {
  console.error(
    "FAIL: set TABHUB_BIN (the tabhub binary) and TABHUB_DATA (a fresh data dir); " +
      `got TABHUB_BIN=${show(bin)} TABHUB_DATA=${show(dataDir)}`,
  );
  process.exit(1);
}

// ---------------------------------------------------------------------------
// Small async helpers.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with cond()'s value once truthy; rejects after timeoutMs. */
function waitUntil(what, cond, timeoutMs = STEP_MS) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (finished) return;
      let value;
      try {
        value = cond();
      } catch (e) {
        reject(e);
        return;
      }
      if (value) resolve(value);
      else if (Date.now() - t0 >= timeoutMs) {
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      } else setTimeout(tick, 10);
    };
    tick();
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function acceptsTcp(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const done = (ok) => {
      sock.removeAllListeners();
      sock.on("error", () => {});
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

// ---------------------------------------------------------------------------
// The binary.

/** `line` without ANSI colour escapes. */
const plain = (line) => line.replace(/\x1b\[[0-9;]*m/g, "");

// "gen1" running; "stopping" after SIGTERM; "down" after it exited;
// "starting2" once the second process was spawned; "gen2" once it listens.
let phase = "none";

class Server {
  constructor(gen, port) {
    this.gen = gen;
    this.port = port;
    this.exit = null; // {code, signal, at}
    const args = ["--store", "redb", "--data", dataDir, "--bind", `127.0.0.1:${port}`];
    record(`spawn #${gen}: ${bin} ${args.join(" ")}`);
    this.child = spawn(bin, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
    });
    children.add(this.child);
    const collect = (stream, name) => {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop();
        for (const line of lines) serverLog.push(`[#${gen} ${name}] ${plain(line)}`);
      });
      stream.on("end", () => {
        if (partial) serverLog.push(`[#${gen} ${name}] ${plain(partial)}`);
      });
    };
    collect(this.child.stdout, "out");
    collect(this.child.stderr, "err");
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        record(`tabhub #${gen} exited: code ${code} signal ${signal}`);
        resolve(this.exit);
      });
    });
    this.child.on("error", (e) => fail(`cannot run ${bin}: ${e.message}`));
  }

  async waitListening() {
    const t0 = Date.now();
    for (;;) {
      if (this.exit) {
        fail(`tabhub #${this.gen} exited before listening: ${show(this.exit)}`);
      }
      if (await acceptsTcp(this.port)) return;
      if (Date.now() - t0 > START_LIMIT_MS) {
        fail(`tabhub #${this.gen} did not accept TCP on port ${this.port} within ${START_LIMIT_MS} ms`);
      }
      await sleep(50);
    }
  }
}

// RFC 6902: the project's own applyPatch (tested against the JSON Patch
// conformance suite in tests/js/client/patch.test.mjs).

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}


// ---------------------------------------------------------------------------
// One tab: its phoenix Socket and Channel, its copy of the state, its frames.

const key = randomBytes(16).toString("hex");
const topic = `session:${key}`;
let port = null;
/** event id by the seq its add_todo was acknowledged at. */
const eventIdBySeq = new Map();

class Tab {
  constructor(name, tabId, socketOpts = {}) {
    this.name = name;
    this.tabId = tabId;
    this.state = null;
    this.epoch = null;
    this.seq = null;
    this.applied = []; // {seq, event_id, how}
    this.joins = []; // join replies, in order
    this.closes = []; // {code, reason, phase}
    this.sentJoins = []; // payloads of the phx_join frames sent
    this.transports = 0; // WebSocket connections attempted
    this.onJoinReply = () => {};

    const tab = this;
    const Transport = class extends WebSocket {
      constructor(url, protocols) {
        super(url, protocols);
        tab.transports += 1;
        record(`${name} ws connect #${tab.transports} (${phase}) ${url}`);
        this.on("close", (code, reason) => record(`${name} ws close ${code} ${show(String(reason))} (${phase})`));
        this.on("error", (e) => record(`${name} ws error ${e.message} (${phase})`));
      }

      send(data, ...rest) {
        record(`${name} -> ${data}`);
        const frame = JSON.parse(data);
        if (frame[3] === "phx_join") tab.sentJoins.push(frame[4]);
        return super.send(data, ...rest);
      }
    };
    Object.defineProperty(Transport, "name", { value: `Traced${name}WebSocket` });

    this.socket = new Socket(`ws://127.0.0.1:${port}/socket`, {
      params: { tab_id: tabId },
      transport: Transport,
      ...socketOpts,
    });
    this.socket.onMessage((msg) => {
      record(`${name} <- ${show([msg.join_ref, msg.ref, msg.topic, msg.event, msg.payload])}`);
      if (msg.topic === topic) {
        check(
          typeof msg.join_ref === "string" && msg.join_ref.length > 0,
          `${name}: message on ${topic} without a join_ref: ${show(msg)}`,
        );
      }
    });
    // phoenix passes the transport's CloseEvent.
    this.socket.onClose((event) => {
      const close = { code: event?.code, reason: event?.reason, phase, at: Date.now() };
      this.closes.push(close);
      record(`${name} socket onClose ${show(close)}`);
    });
    this.socket.onError((error) => record(`${name} socket onError ${error?.message ?? show(error)} (${phase})`));

    this.channel = this.socket.channel(topic, () => ({ cursor: this.cursor() }));
    this.channel.on("delta", (payload) => this.applyDelta(payload, "live"));
    this.channel.onError((reason) => record(`${name} channel error ${show(reason)} (${phase})`));
    this.channel.onClose(() => fail(`${name}: channel closed (phx_close from the server, or a leave)`));
  }

  // The join params' cursor: null until the first join reply.
  cursor() {
    return this.epoch === null ? null : { epoch: this.epoch, seq: this.seq };
  }

  join() {
    this.channel
      .join()
      .receive("ok", (response) => {
        const sent = this.sentJoins[this.sentJoins.length - 1];
        const entry = {
          tab: this.name,
          n: this.joins.length + 1,
          phase,
          sent_cursor: sent?.cursor,
          resume: response?.resume,
          epoch: response?.epoch,
          seq: response?.seq,
          deltas: Array.isArray(response?.deltas) ? response.deltas.map((d) => d.seq) : undefined,
          has_state: response?.state !== undefined,
          tabs: response?.tabs,
          leader: response?.leader,
        };
        joinReplies.push(entry);
        this.joins.push({ entry, response });
        record(`${this.name} join reply ${show(entry)}`);
        log(`${this.name} join #${entry.n} (${phase}): resume ${entry.resume} at seq ${entry.seq}`);
        this.applyJoin(response);
        this.onJoinReply(entry, response);
      })
      .receive("error", (r) => fail(`${this.name}: join refused: ${show(r)}`))
      .receive("timeout", () => record(`${this.name} join timeout (${phase}); phoenix will rejoin`));
  }

  applyJoin(r) {
    const who = `${this.name} join reply ${show(r)}`;
    check(isObject(r), `${who}: response is not an object`);
    check(r.tab_id === this.tabId, `${who}: tab_id is not ${this.tabId}`);
    check(typeof r.epoch === "string" && r.epoch.length > 0, `${who}: bad epoch`);
    check(Number.isInteger(r.seq) && r.seq >= 0, `${who}: bad seq`);
    switch (r.resume) {
      case "snapshot":
        check(
          this.epoch === null,
          `${who}: "snapshot" although the tab sent the cursor ${show(this.cursor())} ` +
            "(must be current or replay after a graceful restart)",
        );
        check(r.state !== undefined, `${who}: snapshot without state`);
        this.state = structuredClone(r.state);
        break;
      case "replay":
        check(this.epoch === r.epoch, `${who}: replay across epochs (had ${this.epoch})`);
        check(Array.isArray(r.deltas) && r.deltas.length > 0, `${who}: replay without deltas`);
        for (const d of r.deltas) this.applyDelta(d, "replayed");
        check(this.seq === r.seq, `${who}: replay ends at seq ${this.seq}, reply says ${r.seq}`);
        break;
      case "current":
        check(this.epoch === r.epoch, `${who}: "current" across epochs (had ${this.epoch})`);
        check(this.seq === r.seq, `${who}: "current" but the tab holds seq ${this.seq}`);
        break;
      default:
        fail(`${who}: unknown resume ${show(r.resume)}`);
    }
    this.epoch = r.epoch;
    this.seq = r.seq;
  }

  applyDelta(d, how) {
    const what = `${this.name} ${how} delta ${show(d)}`;
    check(this.state !== null, `${what}: arrived before any join reply`);
    check(isObject(d) && Number.isInteger(d.seq), `${what}: bad delta`);
    check(d.seq === this.seq + 1, `${what}: seq ${d.seq} after ${this.seq} (must be exactly +1)`);
    check(
      d.event_id === null || typeof d.event_id === "string",
      `${what}: event_id is neither null nor a string`,
    );
    try {
      this.state = applyPatch(this.state, d.patch);
    } catch (e) {
      fail(`${what}: cannot apply the patch: ${e.message}`);
    }
    this.seq = d.seq;
    this.applied.push({ seq: d.seq, event_id: d.event_id, how });
  }

  texts() {
    return this.state?.todos?.map((t) => t.text);
  }
}

/** Pushes add_todo; resolves with {id, seq} on the ok reply. */
function addTodo(tab, text) {
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    tab.channel
      .push("event", { id, name: "add_todo", payload: { text } })
      .receive("ok", (reply) => {
        check(
          isObject(reply) && Number.isInteger(reply.seq),
          `${tab.name}'s add_todo ${show(text)} reply has no seq: ${show(reply)}`,
        );
        check(
          tab.seq >= reply.seq,
          `${tab.name} got the reply ${show(reply)} to ${show(text)} before the delta seq ${reply.seq}`,
        );
        eventIdBySeq.set(reply.seq, id);
        resolve({ id, seq: reply.seq });
      })
      .receive("error", (r) => reject(new Error(`${tab.name}'s add_todo ${show(text)} refused: ${show(r)}`)))
      .receive("timeout", () => reject(new Error(`${tab.name}'s add_todo ${show(text)} timed out`)));
  });
}

// ---------------------------------------------------------------------------
// The scenario.

async function main() {
  port = await freePort();
  log(`tabhub ${bin}, data ${dataDir}, port ${port}, topic ${topic}`);

  stage = "starting tabhub #1";
  phase = "gen1";
  let server = new Server(1, port);
  await server.waitListening();
  log("tabhub #1 accepts connections");

  // 1. Both tabs join with cursor null.
  stage = "tabs A and B joining";
  // A reconnects by itself: phoenix's reconnect timer, with a short backoff
  // so the test does not wait on phoenix's default (up to 5 s).
  const a = new Tab("A", "a", { reconnectAfterMs: (tries) => [50, 100, 200][tries - 1] ?? 250 });
  const b = new Tab("B", "b");
  a.socket.connect();
  a.join();
  await waitUntil("A's first join reply", () => a.joins.length === 1);
  b.socket.connect();
  b.join();
  await waitUntil("B's first join reply", () => b.joins.length === 1);
  for (const t of [a, b]) {
    const { entry } = t.joins[0];
    check(
      entry.sent_cursor === null,
      `${t.name}'s first join must send cursor null, sent ${show(entry.sent_cursor)}`,
    );
    check(
      entry.resume === "snapshot" && entry.seq === 0,
      `${t.name}'s first join to a new session must be a snapshot at seq 0: ${show(entry)}`,
    );
    check(
      isDeepStrictEqual(t.texts(), []),
      `a new demo session has no todos, ${t.name} holds ${show(t.state)}`,
    );
  }
  check(a.epoch === b.epoch, `A and B joined the same session at different epochs: ${a.epoch} / ${b.epoch}`);
  const epoch = a.epoch;
  log(`A and B joined at epoch ${epoch}, seq 0`);

  // 2. A pushes 3 events; both tabs reach seq 3.
  stage = "A pushing 3 add_todo";
  const texts = [];
  const firstThree = ["one", "two", "three"].map((t) => `${t} ${randomBytes(3).toString("hex")}`);
  texts.push(...firstThree);
  const replies = await Promise.all(firstThree.map((t) => addTodo(a, t)));
  check(
    isDeepStrictEqual(
      replies.map((r) => r.seq),
      [1, 2, 3],
    ),
    `A's first 3 add_todo replies must be seq 1, 2, 3: ${show(replies)}`,
  );
  await waitUntil("A and B at seq 3", () => a.seq === 3 && b.seq === 3);
  log("A and B at seq 3");

  // 3. B disconnects on purpose; A moves the session to seq 5.
  stage = "B disconnecting";
  const bClosesBefore = b.closes.length;
  await new Promise((resolve) => b.socket.disconnect(resolve));
  await waitUntil("B's socket onClose after disconnect()", () => b.closes.length > bClosesBefore);
  check(!b.socket.isConnected(), "B is still connected after disconnect()");
  log(`B disconnected on purpose (close code ${b.closes[b.closes.length - 1].code}) at seq ${b.seq}`);

  stage = "A pushing 2 add_todo while B is away";
  const nextTwo = ["four", "five"].map((t) => `${t} ${randomBytes(3).toString("hex")}`);
  texts.push(...nextTwo);
  const replies2 = await Promise.all(nextTwo.map((t) => addTodo(a, t)));
  check(
    isDeepStrictEqual(
      replies2.map((r) => r.seq),
      [4, 5],
    ),
    `A's add_todo replies while B is away must be seq 4, 5: ${show(replies2)}`,
  );
  await waitUntil("A at seq 5", () => a.seq === 5);
  check(b.seq === 3, `B got deltas while disconnected: it holds seq ${b.seq}`);
  check(
    isDeepStrictEqual(a.texts(), texts),
    `A's todos at seq 5: ${show(a.texts())}, expected ${show(texts)}`,
  );
  log("A at seq 5, B's cursor at seq 3");

  // 4. SIGTERM: A sees 1012; the process exits 0 within 10 s.
  stage = "SIGTERM: waiting for A's close (1012) and the process's exit";
  check(
    a.closes.length === 0,
    `A's connection was closed before the SIGTERM: ${show(a.closes)}`,
  );
  check(a.transports === 1, `A opened ${a.transports} connections before the SIGTERM`);
  const aJoinsBefore = a.joins.length;
  phase = "stopping";
  const termAt = Date.now();
  server.child.kill("SIGTERM");
  log("SIGTERM sent to tabhub #1");
  await waitUntil("A's socket onClose after SIGTERM", () => a.closes.length > 0, EXIT_LIMIT_MS);
  const firstClose = a.closes[0];
  log(`A's connection closed: code ${firstClose.code} reason ${show(firstClose.reason)}`);
  check(
    firstClose.code === 1012,
    `on graceful shutdown the server must close A's connection with 1012 (service restart), got ${show(firstClose)}`,
  );
  const exitTimer = sleep(EXIT_LIMIT_MS).then(() => null);
  const exit = await Promise.race([server.exited, exitTimer]);
  check(
    exit !== null,
    `tabhub #1 did not exit within ${EXIT_LIMIT_MS} ms of SIGTERM (A's reconnect attempts meanwhile: ${a.transports - 1})`,
  );
  const exitMs = exit.at - termAt;
  check(
    exit.code === 0 && exit.signal === null,
    `tabhub #1 must exit with code 0 after SIGTERM, got code ${exit.code} signal ${exit.signal}`,
  );
  phase = "down";
  log(`tabhub #1 exited with code 0, ${exitMs} ms after SIGTERM`);
  check(
    a.joins.length === aJoinsBefore,
    "A got a join reply from the server while it was shutting down: " +
      show(a.joins.slice(aJoinsBefore).map((j) => j.entry)),
  );
  check(
    b.joins.length === 1 && b.transports === 1,
    `B connected or joined while it was meant to be disconnected (${b.transports} connections)`,
  );

  // 5. Restart on the same port and data dir; A reconnects by itself.
  stage = "starting tabhub #2 on the same port and data dir";
  phase = "starting2";
  server = new Server(2, port);
  await server.waitListening();
  phase = "gen2";
  log("tabhub #2 accepts connections");

  stage = "A reconnecting by itself and rejoining";
  await waitUntil(
    "A's rejoin after the restart (phoenix's reconnect timer)",
    () => a.joins.length > aJoinsBefore,
  );
  const aRejoin = a.joins[aJoinsBefore].entry;
  // "starting2": the new process accepted A before our own TCP probe did.
  check(
    aRejoin.phase === "starting2" || aRejoin.phase === "gen2",
    `A's rejoin came while the server was ${aRejoin.phase}: ${show(aRejoin)}`,
  );
  check(
    isDeepStrictEqual(aRejoin.sent_cursor, { epoch, seq: 5 }),
    `A's rejoin must send its cursor {epoch: ${epoch}, seq: 5}, sent ${show(aRejoin.sent_cursor)}`,
  );
  check(
    aRejoin.resume === "current" && aRejoin.seq === 5 && aRejoin.epoch === epoch,
    `A's rejoin after the restart must be "current" at seq 5, epoch ${epoch}: ${show(aRejoin)}`,
  );
  check(a.transports > 1, "A's rejoin came without a new connection");
  const aRejoinAt = Date.now();
  for (const c of a.closes.slice(1)) {
    check(
      c.code === 1006 || c.code === 1012,
      `A's reconnect attempts while the server was away must fail with 1006 (refused) or 1012: ${show(a.closes)}`,
    );
  }
  log(
    `A reconnected by itself (${a.transports - 1} attempts, closes ${show(a.closes.map((c) => c.code))}) ` +
      `and resumed "current" at seq 5`,
  );

  stage = "B reconnecting and rejoining";
  const bJoinsBefore = b.joins.length;
  b.socket.connect();
  await waitUntil("B's rejoin after socket.connect()", () => b.joins.length > bJoinsBefore);
  const bRejoin = b.joins[bJoinsBefore].entry;
  check(
    isDeepStrictEqual(bRejoin.sent_cursor, { epoch, seq: 3 }),
    `B's rejoin must send its cursor {epoch: ${epoch}, seq: 3}, sent ${show(bRejoin.sent_cursor)}`,
  );
  check(
    bRejoin.resume === "replay" &&
      bRejoin.epoch === epoch &&
      bRejoin.seq === 5 &&
      isDeepStrictEqual(bRejoin.deltas, [4, 5]),
    `B's rejoin (cursor seq 3) must be "replay" of exactly the deltas 4 and 5 at epoch ${epoch}: ${show(bRejoin)}`,
  );
  check(
    isDeepStrictEqual(b.state, a.state),
    `A and B disagree at seq 5 after B's replay:\nA ${show(a.state)}\nB ${show(b.state)}`,
  );
  log('B reconnected and resumed by "replay" of the deltas 4 and 5');

  // 6. One more event: both tabs get the delta seq 6.
  stage = "A pushing the sixth add_todo";
  const sixth = `six ${randomBytes(3).toString("hex")}`;
  texts.push(sixth);
  const reply6 = await addTodo(a, sixth);
  check(reply6.seq === 6, `A's add_todo after the restart must reply seq 6: ${show(reply6)}`);
  await waitUntil("A and B at seq 6", () => a.seq === 6 && b.seq === 6);

  stage = "final checks";
  for (const t of [a, b]) {
    check(
      isDeepStrictEqual(
        t.applied.map((d) => d.seq),
        [1, 2, 3, 4, 5, 6],
      ),
      `${t.name} applied the seqs ${show(t.applied.map((d) => d.seq))}, expected 1..6 with no gap`,
    );
    for (const d of t.applied) {
      check(
        d.event_id === eventIdBySeq.get(d.seq),
        `${t.name}'s ${d.how} delta seq ${d.seq} has event_id ${show(d.event_id)}, ` +
          `the event acknowledged at that seq was ${show(eventIdBySeq.get(d.seq))}`,
      );
    }
    check(
      isDeepStrictEqual(t.texts(), texts),
      `${t.name}'s todos at seq 6: ${show(t.texts())}, expected ${show(texts)}`,
    );
    const snapshots = t.joins.filter((j) => j.entry.resume === "snapshot");
    check(
      snapshots.length === 1 && t.joins[0].entry.resume === "snapshot",
      `${t.name} got a snapshot after its first join: ${show(t.joins.map((j) => j.entry))}`,
    );
  }
  check(
    isDeepStrictEqual(
      b.applied.map((d) => d.how),
      ["live", "live", "live", "replayed", "replayed", "live"],
    ),
    `B's deltas: ${show(b.applied)}`,
  );
  check(isDeepStrictEqual(a.state, b.state), `A and B disagree at seq 6:\nA ${show(a.state)}\nB ${show(b.state)}`);
  check(
    a.closes.every((c) => c.at <= aRejoinAt),
    `A's connection closed again after its rejoin: ${show(a.closes)}`,
  );
  check(
    b.closes.length === 1,
    `B's connection closed again after its reconnect: ${show(b.closes)}`,
  );
  log("A and B hold the same 6 todos at seq 6");

  // Clean end.
  finished = true;
  a.socket.disconnect();
  b.socket.disconnect();
  console.log("join replies:");
  for (const j of joinReplies) console.log(`  ${show(j)}`);
  console.log(`A's closes: ${show(a.closes)}`);
  log(`OK: 1012 on SIGTERM, exit 0 in ${exitMs} ms, A resumed "current", B resumed "replay" [4, 5], state intact`);
  server.child.kill("SIGTERM");
  await Promise.race([server.exited, sleep(2000)]);
  killChildren();
  process.exit(0);
}

main().catch((e) => fail(`${e?.message ?? e} (while: ${stage})`));
