// tabhub.js against the real tabhub binary (the demo app): joins and
// snapshots, pushes and their replies, replay and current on reconnect,
// effects, chains, tasks, the leader flag and the tab count, takeover.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";

import {
  T,
  INITIAL_STATE,
  closeHubs,
  frames,
  joinReplies,
  joinedFull,
  makeHub,
  randomKey,
  sleep,
  startServer,
  waitFor,
} from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  closeHubs();
  await server?.stop();
});
afterEach(() => closeHubs());

describe("joining", () => {
  test("a first join sends cursor null and gets a snapshot of the initial state", T, async () => {
    const hub = makeHub(server);
    const s = hub.session();
    assert.equal(s.key, hub.token);
    assert.match(hub.token, /^[0-9a-f]{32}$/);
    const states = [];
    s.subscribe((state, session) => {
      assert.equal(session, s);
      states.push(state);
    });
    await joinedFull(s);
    assert.equal(hub.status, "open");
    assert.deepEqual(s.state, INITIAL_STATE);
    assert.equal(s.seq, 0);
    assert.equal(typeof s.epoch, "string");
    assert.equal(s.leader, true);
    assert.equal(s.tabs, 1);
    // At once with no state yet (the store contract), then the snapshot.
    assert.deepEqual(states, [undefined, INITIAL_STATE]);

    const [join] = frames(hub.trace, "out", "phx_join");
    assert.equal(join[2], `session:${hub.token}`);
    assert.equal(join[0], join[1], "a join's join_ref is its ref");
    assert.deepEqual(join[4], { cursor: null, visibility: "visible" });
    const [reply] = joinReplies(hub.trace, join[2]);
    assert.equal(reply[4].status, "ok");
    assert.equal(reply[4].response.resume, "snapshot");
    assert.equal(s.resume, "snapshot", "the session says how it caught up");
    assert.equal(reply[4].response.tab_id, hub.tabId);
  });

  test("the token is kept in the given storage and reused by the next hub", T, () => {
    const first = makeHub(server);
    const storage = { items: new Map(), getItem: (k) => storage.items.get(k) ?? null, setItem: (k, v) => storage.items.set(k, v) };
    const a = makeHub(server, { storage, tokenKey: "my:token" });
    assert.equal(storage.items.get("my:token"), a.token);
    const b = makeHub(server, { storage, tokenKey: "my:token" });
    assert.equal(b.token, a.token, "same storage, same token");
    assert.notEqual(b.tabId, a.tabId, "every hub (page instance) has its own tab id");
    assert.notEqual(first.token, a.token);
  });

  test("the same key gives the same Session; a malformed key throws", T, () => {
    const hub = makeHub(server);
    const key = randomKey();
    assert.equal(hub.session(key), hub.session(key));
    assert.throws(() => hub.session("short"), TypeError);
    assert.throws(() => hub.session("x".repeat(21) + "!"), TypeError);
  });
});

describe("pushes", () => {
  test("a push resolves {seq} after its delta is applied", T, async () => {
    const hub = makeHub(server);
    const s = hub.session(randomKey());
    const result = await s.push("add_todo", { text: "first" });
    assert.deepEqual(result, { seq: 1 });
    assert.equal(s.seq, 1);
    assert.deepEqual(
      s.state.todos.map((t) => [t.text, t.done]),
      [["first", false]],
    );
    const events = frames(hub.trace, "out", "event");
    assert.equal(events.length, 1);
    assert.match(events[0][4].id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(events[0][4].payload, { text: "first" });
    const [delta] = frames(hub.trace, "in", "delta");
    assert.equal(delta[4].event_id, events[0][4].id, "the delta names the push's event id");
  });

  test("every push gets a fresh event id", T, async () => {
    const hub = makeHub(server);
    const s = hub.session(randomKey());
    await Promise.all([s.push("add_todo", { text: "a" }), s.push("add_todo", { text: "b" }), s.push("toast", { text: "c" })]);
    const ids = frames(hub.trace, "out", "event").map((f) => f[4].id);
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 3);
  });

  test("error replies reject with the server's reason and change nothing", T, async () => {
    const hub = makeHub(server);
    const s = hub.session(randomKey());
    await joinedFull(s);
    const cases = [
      ["add_todo", { text: "" }, "invalid_payload"],
      ["no_such_event", {}, "unknown_event"],
      ["toggle_todo", { id: "nope" }, "handler_error"],
    ];
    for (const [name, payload, reason] of cases) {
      await assert.rejects(s.push(name, payload), (e) => {
        assert.equal(e.name, "TabHubError");
        assert.equal(e.reason, reason, `${name}: ${e.message}`);
        assert.ok(e.message.length > 0);
        return true;
      });
    }
    assert.equal(s.seq, 0);
    assert.deepEqual(s.state, INITIAL_STATE);
  });

  test("pushes made before the join are sent after it, in order", T, async () => {
    const hub = makeHub(server);
    const s = hub.session(randomKey());
    assert.equal(s.mode, "joining");
    const results = await Promise.all([1, 2, 3].map((i) => s.push("add_todo", { text: `t${i}` })));
    assert.deepEqual(results, [{ seq: 1 }, { seq: 2 }, { seq: 3 }]);
    assert.deepEqual(
      s.state.todos.map((t) => t.text),
      ["t1", "t2", "t3"],
    );
  });
});

describe("two tabs", () => {
  test("share deltas, count tabs and hand the leader role over when the leader leaves", T, async () => {
    const key = randomKey();
    const a = makeHub(server).session(key);
    await joinedFull(a);
    assert.equal(a.leader, true);
    assert.equal(a.tabs, 1);

    const bHub = makeHub(server);
    const b = bHub.session(key);
    await joinedFull(b);
    assert.equal(b.leader, false, "the first tab stays leader");
    assert.equal(b.tabs, 2);
    await waitFor(() => a.tabs === 2, () => `A's tabs to become 2 (is ${a.tabs})`);

    const changes = [];
    b.onChange((s) => changes.push([s.leader, s.tabs]));
    await b.push("add_todo", { text: "from B" });
    await waitFor(() => a.seq === 1, "A to get B's delta");
    assert.deepEqual(a.state, b.state);

    await a.leave();
    assert.equal(a.mode, "closed");
    await waitFor(() => b.leader && b.tabs === 1, () => `B leader with 1 tab (is ${b.leader}, ${b.tabs})`);
    assert.ok(changes.some(([leader]) => leader === true));
    assert.deepEqual(frames(bHub.trace, "in", "leader").map((f) => f[4]), [{ leader: true }]);
    await assert.rejects(a.push("toast", { text: "x" }), (e) => e.reason === "closed");
  });

  test("a hidden leader hands over to a visible tab; visibility is reported", T, async () => {
    const key = randomKey();
    const aHub = makeHub(server);
    const a = aHub.session(key);
    await joinedFull(a);
    const bHub = makeHub(server);
    const b = bHub.session(key);
    await joinedFull(b);
    assert.equal(a.leader, true);

    aHub.setVisibility("hidden");
    await waitFor(() => b.leader && !a.leader, () => `B to lead (A ${a.leader}, B ${b.leader})`);
    const [vis] = frames(aHub.trace, "out", "visibility");
    assert.deepEqual(vis[4], { visibility: "hidden" });
    assert.equal(vis[0], a._joinRef, "pushed on the current join");

    // A rejoin carries the visibility too.
    aHub.disconnect();
    aHub.connect();
    await joinedFull(a);
    const joins = frames(aHub.trace, "out", "phx_join");
    assert.equal(joins.at(-1)[4].visibility, "hidden");
  });

  test("effects go to the asking tab only", T, async () => {
    const key = randomKey();
    const a = makeHub(server).session(key);
    const b = makeHub(server).session(key);
    await Promise.all([joinedFull(a), joinedFull(b)]);
    const seenA = [];
    const seenB = [];
    a.onEffect((e) => seenA.push(e));
    b.onEffect((e) => seenB.push(e));
    await b.push("toast", { text: "for B" });
    // A's own round trip after B's: anything sent to A for B's toast came before.
    await a.push("toast", { text: "for A" });
    await b.push("add_todo", { text: "sync" });
    await waitFor(() => a.seq === 1, "A to see the last delta");
    assert.deepEqual(seenB, [{ kind: "toast", data: { text: "for B" } }]);
    assert.deepEqual(seenA, [{ kind: "toast", data: { text: "for A" } }]);
  });
});

describe("catching up", () => {
  test("a client that reconnects behind gets a replay of exactly what it missed", T, async () => {
    const key = randomKey();
    const aHub = makeHub(server);
    const a = aHub.session(key);
    await a.push("add_todo", { text: "one" });
    const epoch = a.epoch;
    assert.equal(a.leader, true);
    aHub.disconnect();
    assert.equal(aHub.status, "closed");
    assert.equal(a.mode, "joining");
    assert.equal(a.leader, false, "not joined, not leading");

    const b = makeHub(server).session(key);
    await b.push("add_todo", { text: "two" });
    await b.push("toggle_todo", { id: b.state.todos[0].id });

    const states = [];
    a.subscribe((state) => states.push(state));
    aHub.connect();
    await joinedFull(a);
    const joins = frames(aHub.trace, "out", "phx_join");
    assert.equal(joins.length, 2);
    assert.deepEqual(joins[1][4].cursor, { epoch, seq: 1 });
    const reply = joinReplies(aHub.trace).at(-1)[4].response;
    assert.equal(reply.resume, "replay");
    assert.equal(a.resume, "replay");
    assert.deepEqual(
      reply.deltas.map((d) => d.seq),
      [2, 3],
    );
    assert.equal(a.seq, 3);
    assert.deepEqual(a.state, b.state);
    // At once with the state before, then one notification for the whole replay.
    assert.equal(states.length, 2, "one notification for the whole replay");
    assert.deepEqual(states[1], b.state);
  });

  test("a client that reconnects up to date gets current and keeps its state", T, async () => {
    const hub = makeHub(server);
    const s = hub.session(randomKey());
    await s.push("add_todo", { text: "one" });
    const before = s.state;
    const notified = [];
    s.subscribe((state) => notified.push(state));
    hub.disconnect();
    hub.connect();
    await joinedFull(s);
    assert.deepEqual(frames(hub.trace, "out", "phx_join")[1][4].cursor, { epoch: s.epoch, seq: 1 });
    assert.equal(joinReplies(hub.trace).at(-1)[4].response.resume, "current");
    assert.equal(s.resume, "current");
    assert.equal(s.state, before, "the very same state object");
    assert.deepEqual(notified, [before], "called at once only: nothing changed");
  });

  test("a push made while disconnected is sent after the rejoin", T, async () => {
    const hub = makeHub(server);
    const s = hub.session(randomKey());
    await joinedFull(s);
    hub.disconnect();
    const pending = s.push("add_todo", { text: "made offline" });
    await sleep(100);
    assert.equal(frames(hub.trace, "out", "event").length, 0);
    hub.connect();
    assert.deepEqual(await pending, { seq: 1 });
    assert.deepEqual(
      s.state.todos.map((t) => t.text),
      ["made offline"],
    );
  });

  test("a push that gets no reply in pushTimeoutMs rejects with reason timeout", T, async () => {
    const hub = makeHub(server, { pushTimeoutMs: 200 });
    const s = hub.session(randomKey());
    await joinedFull(s);
    hub.disconnect();
    const started = Date.now();
    await assert.rejects(s.push("add_todo", { text: "never" }), (e) => e.reason === "timeout");
    assert.ok(Date.now() - started >= 190);
  });

  test("disconnect() rejects pending pushes with reason disconnected", T, async () => {
    const hub = makeHub(server);
    const s = hub.session(randomKey());
    const pending = s.push("add_todo", { text: "x" });
    hub.disconnect();
    await assert.rejects(pending, (e) => e.reason === "disconnected");
  });
});

describe("chains", () => {
  test("chain_demo {n: 3} is re-submitted three times, unchanged, each with a fresh id and the chain id", T, async () => {
    const hub = makeHub(server);
    const s = hub.session(randomKey());
    const first = await s.push("chain_demo", { n: 3 });
    await waitFor(() => s.state?.chain_count === 3, () => `chain_count 3 (is ${s.state?.chain_count})`);
    const chains = frames(hub.trace, "in", "chain").map((f) => f[4]);
    assert.deepEqual(
      chains.map((c) => [c.name, c.payload]),
      [
        ["chain_step", { n: 3 }],
        ["chain_step", { n: 2 }],
        ["chain_step", { n: 1 }],
      ],
    );
    const resubmitted = frames(hub.trace, "out", "event").filter((f) => f[4].chain);
    assert.equal(resubmitted.length, 3);
    resubmitted.forEach((f, i) => {
      assert.equal(f[4].chain, chains[i].chain);
      assert.equal(f[4].name, "chain_step");
      assert.deepEqual(f[4].payload, chains[i].payload, "re-submitted unchanged");
    });
    const ids = resubmitted.map((f) => f[4].id);
    const original = frames(hub.trace, "out", "event").find((f) => !f[4].chain)[4].id;
    assert.equal(new Set([...ids, original]).size, 4, "fresh ids");
    assert.ok(first.seq >= 0);
  });

  test("an onChain hook sees each chain and its return value is the payload", T, async () => {
    const hub = makeHub(server);
    const seen = [];
    const s = hub.session(randomKey(), {
      onChain: async (chain) => {
        seen.push(chain);
        await sleep(5);
        return { ...chain.payload, client: "added by the hook" };
      },
    });
    await s.push("chain_demo", { n: 3 });
    await waitFor(() => s.state?.chain_count === 3, () => `chain_count 3 (is ${s.state?.chain_count})`);
    assert.deepEqual(
      seen.map((c) => [c.name, c.payload]),
      [
        ["chain_step", { n: 3 }],
        ["chain_step", { n: 2 }],
        ["chain_step", { n: 1 }],
      ],
    );
    assert.ok(seen.every((c) => typeof c.chain === "string" && c.chain.length > 0));
    const resubmitted = frames(hub.trace, "out", "event").filter((f) => f[4].chain);
    assert.deepEqual(
      resubmitted.map((f) => f[4].payload),
      [3, 2, 1].map((n) => ({ n, client: "added by the hook" })),
    );
    assert.deepEqual(
      resubmitted.map((f) => f[4].chain),
      seen.map((c) => c.chain),
    );
  });
});

describe("tasks", () => {
  test("a background job reports running then done, and its progress arrives as deltas", T, async () => {
    const hub = makeHub(server);
    const s = hub.session(randomKey());
    const tasks = [];
    s.onTask((t) => tasks.push(t));
    await s.push("start_job", { key: "j1", steps: 3, step_ms: 20 });
    await waitFor(() => tasks.some((t) => t.status === "done"), () => `task done (got ${JSON.stringify(tasks)})`);
    assert.deepEqual(
      tasks.map((t) => [t.task, t.status]),
      [
        ["j1", "running"],
        ["j1", "done"],
      ],
    );
    await waitFor(() => s.state.jobs.j1?.status === "done", () => `job done in state ${JSON.stringify(s.state)}`);
    assert.deepEqual(s.state.jobs.j1, { progress: 3, steps: 3, status: "done" });
  });

  test("cancel stops a running task from another tab and reports whether it did", T, async () => {
    const key = randomKey();
    const a = makeHub(server).session(key);
    const b = makeHub(server).session(key);
    const tasksB = [];
    b.onTask((t) => tasksB.push(t));
    await joinedFull(b);
    await a.push("start_job", { key: "long", steps: 1000, step_ms: 50 });
    assert.equal(await b.cancel("long"), true);
    await waitFor(() => tasksB.some((t) => t.status === "cancelled"), () => `cancelled (got ${JSON.stringify(tasksB)})`);
    await waitFor(() => a.state.jobs.long?.status === "cancelled", "the job cancelled in state");
    assert.equal(await a.cancel("long"), false, "nothing left to cancel");
  });
});

describe("takeover", () => {
  test("a newer connection of the same tab closes the older with 4001, which does not reconnect", T, async () => {
    const key = randomKey();
    const old = makeHub(server, { tabId: "same-tab-1", reconnectAfterMs: () => 50 });
    const s1 = old.session(key);
    await joinedFull(s1);
    const statuses = [];
    old.onStatus((st) => statuses.push(st));

    const newer = makeHub(server, { tabId: "same-tab-1" });
    const s2 = newer.session(key);
    await joinedFull(s2);
    assert.equal(s2.leader, true, "the leader role moved with the tab");
    await waitFor(() => old.status === "closed", () => `old hub closed (is ${old.status})`);
    assert.equal(old.lastClose?.code, 4001);
    await sleep(400);
    assert.deepEqual(statuses, ["closed"], "no reconnect after 4001");
    assert.equal(frames(old.trace, "out", "phx_join").length, 1);
  });
});
