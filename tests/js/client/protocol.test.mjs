// tabhub.js against a scripted fake server: the protocol edge cases the real
// binary does not produce on demand (gaps, bad patches, phx_error, stale
// join refs, unknown epochs, unanswered heartbeats, close codes, join
// errors, new_key, join timeouts, the MRU needs-snapshot marker, chains).

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";

import { snapshotReply, startFakeServer } from "./fake-server.mjs";
import {
  T,
  closeHubs,
  joinedFull,
  makeHub,
  memoryStorage,
  randomKey,
  sleep,
  waitFor,
} from "./helpers.mjs";

let fake;
before(async () => {
  fake = await startFakeServer();
});
after(async () => {
  closeHubs();
  await fake?.stop();
});
afterEach(async () => {
  closeHubs();
  // Each test starts with connection #0 of its own.
  await sleep(20);
  fake.conns.length = 0;
});

const delta = (seq, patch, eventId = null) => ({ seq, patch, event_id: eventId });
const setN = (n) => [{ op: "replace", path: "/n", value: n }];

describe("connection", () => {
  test("connects to /socket/websocket with vsn, tab_id and the app's params, and heartbeats", T, async () => {
    const hub = makeHub(fake, { params: { app: "demo", n: 1 }, heartbeatIntervalMs: 40 });
    hub.connect();
    const c = await fake.conn(0);
    assert.equal(c.url.pathname, "/socket/websocket");
    assert.equal(c.url.searchParams.get("vsn"), "2.0.0");
    assert.equal(c.url.searchParams.get("tab_id"), hub.tabId);
    assert.equal(c.url.searchParams.get("app"), "demo");
    assert.equal(c.url.searchParams.get("n"), "1");
    await waitFor(() => hub.status === "open", "open");
    await waitFor(() => c.frames.filter((f) => f[3] === "heartbeat").length >= 3, "three heartbeats");
    for (const f of c.frames.filter((f) => f[3] === "heartbeat")) {
      assert.equal(f[0], null);
      assert.equal(typeof f[1], "string");
      assert.equal(f[2], "phoenix");
      assert.deepEqual(f[4], {});
    }
    assert.equal(fake.conns.length, 1, "answered heartbeats keep the socket");
  });

  test("an unanswered heartbeat drops the socket and reconnects", T, async () => {
    const hub = makeHub(fake, { heartbeatIntervalMs: 60, reconnectAfterMs: () => 10 });
    hub.connect();
    const c0 = await fake.conn(0);
    c0.answerHeartbeats = false;
    await fake.conn(1, 2_000);
    await c0.closed;
    await waitFor(() => hub.status === "open", "open again");
  });

  test("reconnects with growing tries after 1011 and 1013, not after 1008", T, async () => {
    const tries = [];
    const statuses = [];
    const hub = makeHub(fake, { reconnectAfterMs: (t) => (tries.push(t), 20) });
    hub.onStatus((s) => statuses.push(s));
    hub.connect();
    (await fake.conn(0)).close(1011);
    (await fake.conn(1)).close(1013);
    (await fake.conn(2)).close(1008, "origin");
    await waitFor(() => hub.status === "closed", () => `closed (is ${hub.status})`);
    assert.deepEqual(tries, [1, 2]);
    assert.equal(hub.lastClose.code, 1008);
    await sleep(150);
    assert.equal(fake.conns.length, 3, "no reconnect after 1008");
    assert.deepEqual(statuses, ["connecting", "open", "connecting", "open", "connecting", "open", "closed"]);
  });

  test("the backoff starts afresh once the server has talked on a connection", T, async () => {
    const tries = [];
    const hub = makeHub(fake, { reconnectAfterMs: (t) => (tries.push(t), 20) });
    const s = hub.session(randomKey());
    (await fake.conn(0)).close(1011);
    (await fake.conn(1)).close(1011);
    const c2 = await fake.conn(2);
    const j = await c2.next("phx_join");
    c2.reply(j, "ok", snapshotReply(hub.tabId));
    await joinedFull(s);
    c2.close(1011);
    await fake.conn(3);
    assert.deepEqual(tries, [1, 2, 1]);
  });

  test("the default backoff grows from about 250 ms to a 10 s cap, with jitter", T, async () => {
    const { defaultReconnectAfterMs } = await import("../../../assets/tabhub.js");
    for (let i = 0; i < 50; i++) {
      const first = defaultReconnectAfterMs(1);
      assert.ok(first >= 125 && first <= 250, `try 1: ${first}`);
      const fifth = defaultReconnectAfterMs(5);
      assert.ok(fifth >= 2000 && fifth <= 4000, `try 5: ${fifth}`);
      const late = defaultReconnectAfterMs(40);
      assert.ok(late >= 5000 && late <= 10_000, `try 40: ${late}`);
    }
    const samples = new Set(Array.from({ length: 20 }, () => defaultReconnectAfterMs(3)));
    assert.ok(samples.size > 1, "jittered");
  });
});

describe("state sync", () => {
  test("a gap or a patch that does not apply leads to a rejoin with cursor null", T, async () => {
    const hub = makeHub(fake);
    const s = hub.session(randomKey());
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    assert.equal(j1[4].cursor, null);
    c.reply(j1, "ok", snapshotReply(hub.tabId, { seq: 5, state: { n: 0 } }));
    await joinedFull(s);
    c.push(j1, "delta", delta(6, setN(6)));
    await waitFor(() => s.seq === 6, "seq 6");
    assert.deepEqual(s.state, { n: 6 });

    c.push(j1, "delta", delta(8, setN(8)));
    const j2 = await c.next("phx_join");
    assert.equal(j2[4].cursor, null, "a gap: snapshot");
    assert.deepEqual(s.state, { n: 6 }, "the gapped delta was not applied");
    c.reply(j2, "ok", snapshotReply(hub.tabId, { seq: 8, state: { n: 8 } }));
    await waitFor(() => s.seq === 8 && s.mode === "full", "snapshot at 8");

    c.push(j2, "delta", delta(9, [...setN(9), { op: "remove", path: "/missing" }]));
    const j3 = await c.next("phx_join");
    assert.equal(j3[4].cursor, null, "a bad patch: snapshot");
    assert.deepEqual(s.state, { n: 8 }, "nothing half-applied");
    assert.equal(s.seq, 8);
  });

  test("phx_error: rejoin with the cursor; the unanswered push is re-sent with its id; stale join refs are ignored", T, async () => {
    const hub = makeHub(fake);
    const s = hub.session(randomKey());
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    c.reply(j1, "ok", snapshotReply(hub.tabId, { seq: 1, state: { n: 1 } }));
    await joinedFull(s);
    const pushed = s.push("inc", { by: 1 });
    const e1 = await c.next("event");
    assert.equal(e1[0], j1[0], "pushed on the join");
    assert.deepEqual(e1[4].payload, { by: 1 });

    c.push(j1, "phx_error", {});
    const j2 = await c.next("phx_join");
    assert.deepEqual(j2[4].cursor, { epoch: "e1", seq: 1 });
    assert.notEqual(j2[0], j1[0]);
    c.push(j1, "delta", delta(2, setN(99))); // the old join's: dropped
    c.reply(j2, "ok", {
      tab_id: hub.tabId,
      epoch: "e1",
      seq: 2,
      resume: "replay",
      leader: true,
      tabs: 1,
      deltas: [delta(2, setN(2), e1[4].id)],
    });
    const e2 = await c.next("event");
    assert.equal(e2[4].id, e1[4].id, "same event id: handled at most once");
    assert.equal(e2[0], j2[0]);
    c.reply(e2, "ok", { seq: 2 });
    assert.deepEqual(await pushed, { seq: 2 });
    assert.deepEqual(s.state, { n: 2 });

    c.push(j1, "delta", delta(3, setN(99)));
    c.push(j2, "delta", delta(3, setN(3)));
    await waitFor(() => s.seq === 3, "seq 3");
    assert.deepEqual(s.state, { n: 3 });
    c.push(j1, "leader", { leader: false });
    c.push(j1, "effect", { kind: "toast", data: {} });
    const effects = [];
    s.onEffect((e) => effects.push(e));
    c.push(j2, "effect", { kind: "toast", data: { ok: 1 } });
    await waitFor(() => effects.length === 1, "the current join's effect");
    assert.deepEqual(effects, [{ kind: "toast", data: { ok: 1 } }]);
    assert.equal(s.leader, true, "the stale leader message was ignored");
    assert.equal(c.frames.filter((f) => f[3] === "phx_join").length, 2, "no needless rejoin");
  });

  test("a current or replay reply for another epoch leads to a snapshot rejoin", T, async () => {
    const hub = makeHub(fake);
    const s = hub.session(randomKey());
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    c.reply(j1, "ok", snapshotReply(hub.tabId, { seq: 3, state: { n: 3 } }));
    await joinedFull(s);
    c.push(j1, "phx_error", {});
    const j2 = await c.next("phx_join");
    assert.deepEqual(j2[4].cursor, { epoch: "e1", seq: 3 });
    c.reply(j2, "ok", { tab_id: hub.tabId, epoch: "e2", seq: 3, resume: "current", leader: true, tabs: 1 });
    const j3 = await c.next("phx_join");
    assert.equal(j3[4].cursor, null);
    c.reply(j3, "ok", snapshotReply(hub.tabId, { epoch: "e2", seq: 3, state: { n: 30 } }));
    await waitFor(() => s.mode === "full" && s.epoch === "e2", "full at e2");
    assert.deepEqual(s.state, { n: 30 });

    c.push(j3, "phx_error", {});
    const j4 = await c.next("phx_join");
    assert.deepEqual(j4[4].cursor, { epoch: "e2", seq: 3 });
    c.reply(j4, "ok", { tab_id: hub.tabId, epoch: "e3", seq: 4, resume: "replay", leader: true, tabs: 1, deltas: [delta(4, setN(4))] });
    const j5 = await c.next("phx_join");
    assert.equal(j5[4].cursor, null);
    assert.deepEqual(s.state, { n: 30 });
  });

  test("leader, tabs and task messages update the session", T, async () => {
    const hub = makeHub(fake);
    const s = hub.session(randomKey());
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    c.reply(j1, "ok", snapshotReply(hub.tabId, { leader: false, tabs: 3 }));
    await joinedFull(s);
    assert.equal(s.leader, false);
    assert.equal(s.tabs, 3);
    const changes = [];
    s.onChange((x) => changes.push([x.leader, x.tabs]));
    const tasks = [];
    s.onTask((t) => tasks.push(t));
    c.push(j1, "leader", { leader: true });
    c.push(j1, "tabs", { tabs: 2 });
    c.push(j1, "task", { task: "t", status: "failed", error: "boom" });
    await waitFor(() => tasks.length === 1, "task");
    assert.deepEqual(changes, [
      [true, 3],
      [true, 2],
    ]);
    assert.deepEqual(tasks, [{ task: "t", status: "failed", error: "boom" }]);
  });
});

describe("joins", () => {
  test("a transient join error is retried with backoff; a permanent one closes the session", T, async () => {
    const tries = [];
    const hub = makeHub(fake, { reconnectAfterMs: (t) => (tries.push(t), 30) });
    const key = randomKey();
    const s = hub.session(key);
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    c.reply(j1, "error", { reason: "capacity", message: "full" });
    const j2 = await c.next("phx_join");
    assert.equal(s.error?.reason, "capacity");
    assert.equal(s.mode, "joining");
    assert.deepEqual(tries, [1]);
    c.reply(j2, "error", { reason: "too_many_tabs" });
    const j3 = await c.next("phx_join");
    assert.deepEqual(tries, [1, 2]);
    c.reply(j3, "ok", snapshotReply(hub.tabId));
    await joinedFull(s);
    assert.equal(s.error, null);

    const other = hub.session(randomKey());
    const pending = other.push("x", {});
    const k1 = await c.next("phx_join", other.topic);
    c.reply(k1, "error", { reason: "unauthorized", message: "no entry" });
    await assert.rejects(pending, (e) => e.reason === "unauthorized" && e.message === "no entry");
    assert.equal(other.mode, "closed");
    assert.equal(other.error.reason, "unauthorized");
    assert.notEqual(hub.session(other.key), other, "a closed session is forgotten");
  });

  test("new_key: the tab joins the fresh key from empty state and keeps it as its token", T, async () => {
    const storage = memoryStorage();
    const hub = makeHub(fake, { storage });
    const oldToken = hub.token;
    const s = hub.session();
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    assert.equal(j1[2], `session:${oldToken}`);
    const fresh = randomKey();
    c.reply(j1, "error", { reason: "new_key", new_key: fresh });
    const j2 = await c.next("phx_join");
    assert.equal(j2[2], `session:${fresh}`);
    assert.equal(j2[4].cursor, null);
    assert.equal(s.key, fresh);
    assert.equal(hub.token, fresh);
    assert.equal(storage.getItem("tabhub:token"), fresh);
    assert.equal(hub.session(fresh), s);
    c.reply(j2, "ok", snapshotReply(hub.tabId, { state: { fresh: true } }));
    await joinedFull(s);
    assert.deepEqual(s.state, { fresh: true });
  });

  test("an unanswered join is sent again after joinTimeoutMs; the late reply is ignored", T, async () => {
    const hub = makeHub(fake, { joinTimeoutMs: 100 });
    const s = hub.session(randomKey());
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    const j2 = await c.next("phx_join", undefined, 1_000);
    assert.notEqual(j2[1], j1[1]);
    c.reply(j1, "ok", snapshotReply(hub.tabId, { state: { late: true } }));
    await sleep(30);
    assert.equal(s.mode, "joining");
    c.reply(j2, "ok", snapshotReply(hub.tabId, { state: { fresh: true } }));
    await joinedFull(s);
    assert.deepEqual(s.state, { fresh: true });
  });

  test("leave sends phx_leave on the join, closes the session and ignores later messages", T, async () => {
    const hub = makeHub(fake);
    const s = hub.session(randomKey());
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    c.reply(j1, "ok", snapshotReply(hub.tabId, { state: { n: 0 } }));
    await joinedFull(s);
    const left = s.leave();
    const leave = await c.next("phx_leave");
    assert.equal(leave[0], j1[0]);
    assert.equal(leave[2], s.topic);
    c.reply(leave, "ok", {});
    await left;
    assert.equal(s.mode, "closed");
    c.push(j1, "delta", delta(1, setN(1)));
    await sleep(30);
    assert.deepEqual(s.state, { n: 0 });
  });
});

describe("MRU cap", () => {
  test("evicted: summary join and summaries only; a failed re-open keeps asking for a snapshot", T, async () => {
    const hub = makeHub(fake, { maxFullJoins: 1, reconnectAfterMs: () => 20 });
    const a = hub.session(randomKey());
    let c = await fake.conn(0);
    const a1 = await c.next("phx_join", a.topic);
    c.reply(a1, "ok", snapshotReply(hub.tabId, { seq: 4, state: { a: 4 } }));
    await joinedFull(a);

    const b = hub.session(randomKey());
    const a2 = await c.next("phx_join", a.topic);
    assert.deepEqual(a2[4], { mode: "summary" });
    const b1 = await c.next("phx_join", b.topic);
    assert.equal(b1[4].cursor, null);
    c.reply(a2, "ok", { tab_id: hub.tabId, summary: { x: 1 } });
    c.reply(b1, "ok", snapshotReply(hub.tabId));
    await waitFor(() => a.mode === "summary", "A summary");
    assert.deepEqual(a.summary, { x: 1 });
    c.push(a2, "summary", { summary: { x: 2 } });
    c.push(a2, "delta", delta(5, [{ op: "replace", path: "/a", value: 5 }]));
    await waitFor(() => a.summary?.x === 2, "summary 2");
    assert.equal(a.seq, 4);
    assert.deepEqual(a.state, { a: 4 }, "no deltas on a summary join");
    await assert.rejects(a.push("x", {}), (e) => e.reason === "summary_only");
    assert.equal(c.frames.filter((f) => f[3] === "event").length, 0, "nothing sent");

    // Re-open A: cursor null, refused; retried with cursor null.
    hub.session(a.key);
    const a3 = await c.next("phx_join", a.topic);
    assert.equal(a3[4].cursor, null);
    const b2 = await c.next("phx_join", b.topic);
    assert.deepEqual(b2[4], { mode: "summary" });
    c.reply(a3, "error", { reason: "too_many_tabs" });
    const a4 = await c.next("phx_join", a.topic);
    assert.equal(a4[4].cursor, null, "still a snapshot after a failed re-open");
    // Dropped before the reply: after the reconnect, still a snapshot.
    c.close(1011);
    c = await fake.conn(1);
    const a5 = await c.next("phx_join", a.topic);
    assert.equal(a5[4].cursor, null, "still a snapshot after a drop");
    c.reply(a5, "ok", snapshotReply(hub.tabId, { seq: 9, state: { a: 9 } }));
    await joinedFull(a);
    assert.deepEqual(a.state, { a: 9 });
    // Now exact again: a rejoin sends the cursor.
    c.push(a5, "phx_error", {});
    const a6 = await c.next("phx_join", a.topic);
    assert.deepEqual(a6[4].cursor, { epoch: "e1", seq: 9 });
  });

  test("an eviction that never reached the server leaves the cursor exact", T, async () => {
    const hub = makeHub(fake, { maxFullJoins: 1 });
    const a = hub.session(randomKey());
    let c = await fake.conn(0);
    const a1 = await c.next("phx_join", a.topic);
    c.reply(a1, "ok", snapshotReply(hub.tabId, { seq: 4, state: { a: 4 } }));
    await joinedFull(a);
    hub.disconnect();
    const b = hub.session(randomKey()); // evicts A while disconnected
    hub.session(a.key); // and re-opens it (evicting B) before any summary join
    hub.connect();
    c = await fake.conn(1);
    const a2 = await c.next("phx_join", a.topic);
    assert.deepEqual(a2[4].cursor, { epoch: "e1", seq: 4 });
    const b1 = await c.next("phx_join", b.topic);
    assert.deepEqual(b1[4], { mode: "summary" });
  });
});

describe("chains", () => {
  test("a chain is re-submitted once while in flight, and again if the server re-sends it later", T, async () => {
    const hub = makeHub(fake);
    const s = hub.session(randomKey());
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    c.reply(j1, "ok", snapshotReply(hub.tabId));
    await joinedFull(s);
    c.push(j1, "chain", { chain: "c1", name: "step", payload: { n: 1 } });
    const e1 = await c.next("event");
    assert.equal(e1[4].chain, "c1");
    assert.equal(e1[4].name, "step");
    assert.deepEqual(e1[4].payload, { n: 1 });
    c.push(j1, "chain", { chain: "c1", name: "step", payload: { n: 1 } });
    await sleep(50);
    assert.equal(c.frames.filter((f) => f[3] === "event").length, 1, "no second submission while in flight");
    c.reply(e1, "ok", { seq: 0 });
    await sleep(20);
    c.push(j1, "chain", { chain: "c1", name: "step", payload: { n: 1 } });
    const e2 = await c.next("event");
    assert.equal(e2[4].chain, "c1");
    assert.notEqual(e2[4].id, e1[4].id, "a fresh id per submission");
  });

  test("a throwing onChain hook re-submits nothing and reports the error", T, async () => {
    const hub = makeHub(fake);
    const s = hub.session(randomKey(), {
      onChain: () => {
        throw new Error("no client data");
      },
    });
    const c = await fake.conn(0);
    const j1 = await c.next("phx_join");
    c.reply(j1, "ok", snapshotReply(hub.tabId));
    await joinedFull(s);
    const reported = [];
    const original = console.error;
    console.error = (...args) => reported.push(args);
    try {
      c.push(j1, "chain", { chain: "c2", name: "step", payload: {} });
      await waitFor(() => reported.length === 1, "the error reported");
    } finally {
      console.error = original;
    }
    assert.match(String(reported[0][1]), /no client data/);
    await sleep(30);
    assert.equal(c.frames.filter((f) => f[3] === "event").length, 0);
  });
});
