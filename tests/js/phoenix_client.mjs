// The official Phoenix JavaScript client (npm `phoenix`, over npm `ws`)
// against a running tabhub server. Run by tests/phoenix_js.rs:
//
//   node tests/js/phoenix_client.mjs ws://127.0.0.1:PORT/socket [CLIENT_TIMEOUT_MS]
//
// CLIENT_TIMEOUT_MS (default 1500) must be the server's --client-timeout-ms.
//
// Scenario (docs/protocol.md sections 4 to 8):
//   1. Tab A joins session:<random key> with cursor null (snapshot), pushes
//      add_todo and must get the delta seq 1 before the reply {seq: 1}.
//   2. Tab A then sends nothing and answers no WebSocket ping, so the server
//      closes it with 1001 after the client timeout.
//   3. Meanwhile tab B (another Socket, another tab_id) joins the same topic
//      and pushes a second add_todo: the session is at seq 2.
//   4. phoenix reconnects tab A by itself and rejoins with the join params
//      function, i.e. with cursor {epoch, seq: 1}; the reply must be
//      "replay" with exactly the delta seq 2 (or "current", the delta then
//      coming live), never "snapshot". Both tabs end with the same state.
//   5. Tab A, now answering pings but still sending nothing, must stay
//      connected for twice the client timeout.
// Exits 0 on success; prints FAIL and a frame trace and exits 1 otherwise.

import { randomBytes, randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";

import { Socket } from "phoenix";
import { applyPatch } from "../../assets/tabhub.js";
import WebSocket from "ws";

const GLOBAL_TIMEOUT_MS = 20_000;
const baseUrl = process.argv[2];
const clientTimeoutMs = Number(process.argv[3] ?? 1500);
const started = Date.now();
const trace = [];

function elapsed() {
  return `${String(Date.now() - started).padStart(5)} ms`;
}

function log(message) {
  console.log(`[${elapsed()}] ${message}`);
}

function record(line) {
  trace.push(`[${elapsed()}] ${line}`);
}

let finished = false;

function fail(message) {
  if (finished) return;
  finished = true;
  console.error(`FAIL: ${message}`);
  console.error("--- frame trace (last 80) ---");
  for (const line of trace.slice(-80)) console.error(line);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) fail(message);
}

const show = (value) => JSON.stringify(value);

if (!baseUrl || !/^wss?:\/\//.test(baseUrl)) {
  console.error("usage: node phoenix_client.mjs ws://HOST:PORT/socket [CLIENT_TIMEOUT_MS]");
  process.exit(2);
}
check(
  Number.isInteger(clientTimeoutMs) && clientTimeoutMs > 0,
  `bad CLIENT_TIMEOUT_MS ${process.argv[3]}`,
);

let stage = "starting";
setTimeout(
  () => fail(`global timeout (${GLOBAL_TIMEOUT_MS} ms) while: ${stage}`),
  GLOBAL_TIMEOUT_MS,
);
process.on("uncaughtException", (e) => fail(`uncaught exception: ${e?.stack ?? e}`));
process.on("unhandledRejection", (e) => fail(`unhandled rejection: ${e?.stack ?? e}`));

// RFC 6902: the project's own applyPatch (tested against the JSON Patch
// conformance suite in tests/js/client/patch.test.mjs).

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}


// ---------------------------------------------------------------------------
// One tab's copy of the session state, exactly as a client keeps it.

class Mirror {
  constructor(name) {
    this.name = name;
    this.state = null;
    this.epoch = null;
    this.seq = null;
    this.seqs = [];
  }

  // The join params' cursor: null until the first join reply.
  cursor() {
    return this.epoch === null ? null : { epoch: this.epoch, seq: this.seq };
  }

  applyJoin(r, tabId) {
    const who = `${this.name} join reply ${show(r)}`;
    check(isObject(r), `${who}: response is not an object`);
    check(r.tab_id === tabId, `${who}: tab_id is not ${tabId}`);
    check(typeof r.epoch === "string" && r.epoch.length > 0, `${who}: bad epoch`);
    check(Number.isInteger(r.seq) && r.seq >= 0, `${who}: bad seq`);
    check(typeof r.leader === "boolean", `${who}: leader is not a boolean`);
    check(Number.isInteger(r.tabs) && r.tabs >= 1, `${who}: bad tabs`);
    switch (r.resume) {
      case "snapshot":
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
        check(this.epoch === r.epoch, `${who}: current across epochs (had ${this.epoch})`);
        check(this.seq === r.seq, `${who}: "current" but we hold seq ${this.seq}`);
        break;
      default:
        fail(`${who}: unknown resume ${show(r.resume)}`);
    }
    this.epoch = r.epoch;
    this.seq = r.seq;
  }

  applyDelta(d, how = "live") {
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
    this.seqs.push(d.seq);
  }
}

// ---------------------------------------------------------------------------
// The ws transport, traced. A's first connection answers no ping.

let aAnswersPings = false;
let aPingsWhileSilent = 0;

function tracedTransport(name, answersPings, onPing = () => {}) {
  const Transport = class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { autoPong: answersPings() });
      record(`${name} connect ${url} (autoPong ${answersPings()})`);
      this.on("ping", () => onPing());
      this.on("close", (code, reason) => record(`${name} ws close ${code} ${show(String(reason))}`));
      this.on("error", (e) => record(`${name} ws error ${e.message}`));
    }

    send(data, ...rest) {
      record(`${name} -> ${data}`);
      sentFrames(name).push(JSON.parse(data));
      return super.send(data, ...rest);
    }
  };
  Object.defineProperty(Transport, "name", { value: `Traced${name}WebSocket` });
  return Transport;
}

const sent = { A: [], B: [] };
const sentFrames = (name) => sent[name];

const key = randomBytes(16).toString("hex");
const topic = `session:${key}`;
const tabA = `phxjs-a-${randomBytes(6).toString("hex")}`;
const tabB = `phxjs-b-${randomBytes(6).toString("hex")}`;
log(`server ${baseUrl}, topic ${topic}, client timeout ${clientTimeoutMs} ms`);

// Every server message on the topic carries the join's join_ref (section 1).
function watchFrames(name, socket) {
  socket.onMessage((msg) => {
    record(`${name} <- ${show([msg.join_ref, msg.ref, msg.topic, msg.event, msg.payload])}`);
    if (msg.topic === topic) {
      check(
        typeof msg.join_ref === "string" && msg.join_ref.length > 0,
        `${name}: message on ${topic} without a join_ref: ${show(msg)}`,
      );
    }
  });
}

// ---------------------------------------------------------------------------
// Tab A.

const a = new Mirror("A");
const aSocket = new Socket(baseUrl, {
  params: { tab_id: tabA },
  transport: tracedTransport("A", () => aAnswersPings, () => {
    if (!aAnswersPings) aPingsWhileSilent += 1;
  }),
  // No heartbeat (below setTimeout's 2^31-1 ms limit, which would fire at once).
  heartbeatIntervalMs: 1_000_000_000,
  // Leave tab B time to move the session on while A is away.
  reconnectAfterMs: () => 1000,
  rejoinAfterMs: () => 500,
});
watchFrames("A", aSocket);

const aChannel = aSocket.channel(topic, () => ({ cursor: a.cursor() }));
let aJoins = 0;
let aLastSentAt = null;
let aClosedAt = null;
let aCloses = 0;
let aRejoined = false;
let firstPushReplied = false;

aChannel.on("delta", (payload) => a.applyDelta(payload));

aChannel
  .join()
  .receive("ok", (response) => {
    aJoins += 1;
    if (aJoins === 1) onAFirstJoin(response);
    else if (aJoins === 2) onARejoin(response);
    else fail(`A joined a third time: ${show(response)} (unexpected drop or phx_error?)`);
  })
  .receive("error", (response) => fail(`A join refused: ${show(response)}`))
  .receive("timeout", () => fail(`A join timed out (joins so far: ${aJoins})`));

aChannel.onError((reason) => record(`A channel error ${show(reason)}`));
aChannel.onClose(() => {
  if (!finished) fail("A channel closed by the server (phx_close)");
});

function onAFirstJoin(response) {
  stage = "A pushing the first add_todo";
  check(response.resume === "snapshot", `A's first join (cursor null) must get a snapshot: ${show(response)}`);
  const joins = sent.A.filter((f) => f[3] === "phx_join");
  check(joins.length === 1 && joins[0][4].cursor === null, `A's first join must send cursor null: ${show(joins)}`);
  a.applyJoin(response, tabA);
  check(a.seq === 0, `a new session starts at seq 0, got ${a.seq}`);
  check(
    isObject(a.state) && Array.isArray(a.state.todos) && a.state.todos.length === 0,
    `a new demo session has no todos: ${show(a.state)}`,
  );
  log(`A joined: snapshot at epoch ${a.epoch} seq ${a.seq}`);

  const id = randomUUID();
  aChannel
    .push("event", { id, name: "add_todo", payload: { text: "from phoenix.js" } })
    .receive("ok", (reply) => {
      check(show(reply) === show({ seq: 1 }), `A's add_todo reply must be {"seq":1}: ${show(reply)}`);
      check(
        a.seqs.includes(1),
        `A got the reply {seq: 1} before the delta seq 1 (the server must send the delta first)`,
      );
      check(
        a.state.todos.length === 1 && a.state.todos[0].text === "from phoenix.js",
        `A's state after seq 1: ${show(a.state)}`,
      );
      firstPushReplied = true;
      aLastSentAt = Date.now();
      stage = "A silent, waiting for the server to close it (1001)";
      log(`A's add_todo replied {seq: 1} after its delta; now silent`);
    })
    .receive("error", (r) => fail(`A's add_todo refused: ${show(r)}`))
    .receive("timeout", () => fail("A's add_todo timed out"));
}

aSocket.onError((error) => {
  record(`A socket error ${error?.message ?? show(error)}`);
  if (!aClosedAt && !finished) log(`A socket error before its close: ${error?.message ?? error}`);
});

aSocket.onClose((event) => {
  aCloses += 1;
  if (finished) return;
  if (aCloses > 1) {
    fail(
      `A was closed again (code ${event.code}) although it answers pings now: ` +
        "a client answering pings must stay connected",
    );
  }
  aClosedAt = Date.now();
  const silentFor = aLastSentAt === null ? null : aClosedAt - aLastSentAt;
  log(`A's connection closed: code ${event.code} reason ${show(event.reason)} after ${silentFor} ms of silence`);
  check(firstPushReplied, `A was closed (code ${event.code}) before its add_todo was answered`);
  check(event.code === 1001, `the server must close a silent connection with 1001, got ${event.code}`);
  check(
    silentFor >= clientTimeoutMs - 50,
    `closed after ${silentFor} ms of silence, before the ${clientTimeoutMs} ms client timeout`,
  );
  check(aPingsWhileSilent > 0, "the server sent no WebSocket ping while A was silent");
  check(
    !sent.A.some((f) => f[2] === "phoenix"),
    `A sent a heartbeat, the test setup is wrong: ${show(sent.A)}`,
  );
  // From now on A is a normal, live client that still pushes nothing.
  aAnswersPings = true;
  stage = "tab B moving the session to seq 2 while A is away";
  startTabB();
});

// ---------------------------------------------------------------------------
// Tab B: a normal phoenix client.

const b = new Mirror("B");
let bSocket = null;
let bPushReplied = false;

function startTabB() {
  bSocket = new Socket(baseUrl, {
    params: { tab_id: tabB },
    transport: tracedTransport("B", () => true),
  });
  watchFrames("B", bSocket);
  bSocket.onClose((event) => {
    if (!finished) fail(`B's socket closed unexpectedly: code ${event.code}`);
  });
  bSocket.onError((error) => {
    if (!finished) fail(`B's socket error: ${error?.message ?? show(error)}`);
  });
  bSocket.connect();
  const channel = bSocket.channel(topic, () => ({ cursor: b.cursor() }));
  channel.on("delta", (payload) => b.applyDelta(payload));
  channel
    .join()
    .receive("ok", (response) => {
      check(response.resume === "snapshot", `B (cursor null) must get a snapshot: ${show(response)}`);
      b.applyJoin(response, tabB);
      check(b.seq === 1, `B must join at seq 1, got ${b.seq}: ${show(response)}`);
      log(`B joined: snapshot at seq ${b.seq}, pushing the second add_todo`);
      channel
        .push("event", { id: randomUUID(), name: "add_todo", payload: { text: "from the second tab" } })
        .receive("ok", (reply) => {
          check(show(reply) === show({ seq: 2 }), `B's add_todo reply must be {"seq":2}: ${show(reply)}`);
          check(b.seqs.includes(2), "B got the reply {seq: 2} before the delta seq 2");
          bPushReplied = true;
          log("B's add_todo replied {seq: 2}");
          maybeDone();
        })
        .receive("error", (r) => fail(`B's add_todo refused: ${show(r)}`))
        .receive("timeout", () => fail("B's add_todo timed out"));
    })
    .receive("error", (r) => fail(`B's join refused: ${show(r)}`))
    .receive("timeout", () => fail("B's join timed out"));
  channel.onError((reason) => {
    if (!finished) fail(`B's channel errored: ${show(reason)}`);
  });
}

// ---------------------------------------------------------------------------
// Tab A's automatic rejoin.

function onARejoin(response) {
  check(aClosedAt !== null, `A rejoined without having been closed: ${show(response)}`);
  const joins = sent.A.filter((f) => f[3] === "phx_join");
  check(joins.length === 2, `A sent ${joins.length} phx_join frames, expected 2: ${show(joins)}`);
  const cursor = joins[1][4].cursor;
  check(
    isDeepStrictEqual(cursor, { epoch: a.epoch, seq: 1 }),
    `phoenix's rejoin must carry the cursor {epoch: ${a.epoch}, seq: 1}, sent ${show(cursor)}`,
  );
  check(
    response.resume !== "snapshot",
    `A rejoined with cursor ${show(cursor)} but got a snapshot (the cursor was ignored): ${show(response)}`,
  );
  if (response.resume === "replay") {
    check(
      Array.isArray(response.deltas) && response.deltas.length === 1 && response.deltas[0].seq === 2,
      `the replay must hold exactly the delta seq 2: ${show(response.deltas)}`,
    );
  } else {
    check(response.resume === "current", `unexpected resume ${show(response.resume)}`);
    check(response.seq === 1, `"current" must mean seq 1 here: ${show(response)}`);
  }
  a.applyJoin(response, tabA);
  aRejoined = true;
  log(`A reconnected by itself and rejoined with cursor ${show(cursor)}: resume ${response.resume}`);
  maybeDone();
}

// A's live delta seq 2 (after a "current" rejoin) also completes the run.
aChannel.on("delta", () => maybeDone());

let doneChecked = false;

function maybeDone() {
  if (doneChecked || finished || !aRejoined || !bPushReplied || a.seq !== 2 || b.seq !== 2) return;
  doneChecked = true;
  const texts = a.state.todos.map((t) => t.text);
  check(
    isDeepStrictEqual(texts, ["from phoenix.js", "from the second tab"]),
    `A's final todos: ${show(a.state.todos)}`,
  );
  check(
    isDeepStrictEqual(a.state, b.state),
    `A and B disagree at seq 2:\nA ${show(a.state)}\nB ${show(b.state)}`,
  );
  check(isDeepStrictEqual(a.seqs, [1, 2]), `A applied seqs ${show(a.seqs)}, expected [1, 2]`);
  log("A and B hold the same state at seq 2 with both todos");

  // A now answers pings but pushes nothing: it must stay connected.
  const hold = 2 * clientTimeoutMs;
  stage = `A answering pings only, must stay connected for ${hold} ms`;
  setTimeout(() => {
    check(aCloses === 1, `A was closed ${aCloses} times`);
    check(aSocket.isConnected(), "A is not connected any more");
    check(!sent.A.some((f) => f[2] === "phoenix"), "A sent a heartbeat");
    log(`A stayed connected for ${hold} ms answering pings only`);
    finished = true;
    aSocket.disconnect();
    bSocket.disconnect();
    log("OK: phoenix.js joined, pushed, was dropped, reconnected and rejoined with its cursor");
    setTimeout(() => process.exit(0), 100);
  }, hold);
}

stage = "A connecting and joining";
aSocket.connect();
