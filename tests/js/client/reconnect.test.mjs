// tabhub.js reconnecting by itself against the real binary: a server-side
// drop of a silent connection (1001), and a server restart (1012, then a
// new epoch: snapshot).

import assert from "node:assert/strict";
import { after, afterEach, describe, test } from "node:test";

import {
  T,
  INITIAL_STATE,
  closeCodes,
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

const CLIENT_TIMEOUT_MS = 1500;
const servers = [];
after(async () => {
  closeHubs();
  for (const s of servers) await s.stop();
});
afterEach(() => closeHubs());

describe("reconnect", () => {
  test("after the server drops a silent client (1001) it reconnects by itself and catches up", T, async () => {
    const server = await startServer(["--client-timeout-ms", String(CLIENT_TIMEOUT_MS)]);
    servers.push(server);
    const key = randomKey();
    // Silent: no heartbeats, and the first socket answers no ping. Later
    // sockets answer pings (as browsers do), so the client stays up.
    let sockets = 0;
    const hub = makeHub(server, {
      heartbeatIntervalMs: 1e9,
      reconnectAfterMs: () => 1000,
      wsOptions: () => ({ autoPong: sockets++ > 0 }),
    });
    const a = hub.session(key);
    assert.deepEqual(await a.push("add_todo", { text: "before the drop" }), { seq: 1 });
    const epoch = a.epoch;
    const other = makeHub(server).session(key);
    await joinedFull(other);

    const droppedAfter = Date.now();
    await waitFor(() => closeCodes(hub.trace).length === 1, "the server to drop the silent client", 10_000);
    assert.deepEqual(closeCodes(hub.trace), [1001]);
    assert.ok(Date.now() - droppedAfter < CLIENT_TIMEOUT_MS + 2000, "dropped about when the client timeout ran out");
    assert.equal(hub.lastClose.code, 1001);
    assert.equal(hub.status, "connecting");
    assert.equal(a.mode, "joining");

    // During the gap: another tab changes the session, and A pushes.
    assert.deepEqual(await other.push("add_todo", { text: "during the gap" }), { seq: 2 });
    const queued = a.push("add_todo", { text: "queued by A" });
    assert.notEqual(hub.status, "open", "the change was made during the gap");

    await joinedFull(a, 5_000);
    assert.deepEqual(await queued, { seq: 3 });
    assert.equal(sockets, 2, "exactly one reconnect");
    const joins = frames(hub.trace, "out", "phx_join");
    assert.equal(joins.length, 2);
    assert.deepEqual(joins[1][4].cursor, { epoch, seq: 1 }, "rejoined with its cursor");
    const resume = joinReplies(hub.trace).at(-1)[4].response.resume;
    assert.ok(resume === "replay" || resume === "current", `resume ${resume}`);
    assert.equal(a.epoch, epoch);
    await waitFor(() => other.seq === 3, "the other tab at seq 3");
    assert.deepEqual(a.state, other.state);
    assert.deepEqual(
      a.state.todos.map((t) => t.text),
      ["before the drop", "during the gap", "queued by A"],
    );

    // Answering pings, the new connection outlives the client timeout.
    await sleep(CLIENT_TIMEOUT_MS * 1.5);
    assert.equal(hub.status, "open");
    assert.deepEqual(closeCodes(hub.trace), [1001]);
  });

  test("after a restart that lost the session (memory store, 1012) it takes a snapshot of the new epoch", T, async () => {
    const first = await startServer(["--store", "memory"]);
    servers.push(first);
    const hub = makeHub(first, { reconnectAfterMs: () => 100 });
    const s = hub.session(randomKey());
    await s.push("add_todo", { text: "lost with the memory store" });
    const oldEpoch = s.epoch;

    await first.stop("SIGTERM");
    await waitFor(() => closeCodes(hub.trace).length >= 1, "the close");
    assert.equal(closeCodes(hub.trace)[0], 1012, "graceful shutdown closes with 1012");
    await sleep(300); // a few refused attempts while nothing listens
    assert.equal(hub.status, "connecting");

    const second = await startServer(["--store", "memory"], { port: first.port });
    servers.push(second);
    await waitFor(() => s.mode === "full" && s.epoch !== oldEpoch, () => `a full join at a new epoch (${s.mode}, ${s.epoch})`, 10_000);
    const lastJoin = frames(hub.trace, "out", "phx_join").at(-1);
    assert.deepEqual(lastJoin[4].cursor, { epoch: oldEpoch, seq: 1 });
    assert.equal(joinReplies(hub.trace).at(-1)[4].response.resume, "snapshot");
    assert.deepEqual(s.state, INITIAL_STATE);
    assert.equal(s.seq, joinReplies(hub.trace).at(-1)[4].response.seq);
    assert.deepEqual(await s.push("add_todo", { text: "after" }), { seq: s.seq });
  });

  test("after a restart that kept the session (redb store, 1012) it resumes with its cursor, state intact", T, async () => {
    const first = await startServer();
    servers.push(first);
    const hub = makeHub(first, { reconnectAfterMs: () => 100 });
    const s = hub.session(randomKey());
    await s.push("add_todo", { text: "kept on disk" });
    await s.push("add_todo", { text: "and this" });
    const { epoch, state } = s;

    await first.stop("SIGTERM", { keepData: true });
    await waitFor(() => closeCodes(hub.trace).length >= 1, "the close");
    assert.equal(closeCodes(hub.trace)[0], 1012);
    const second = await startServer([], { port: first.port, data: first.data });
    servers.push(second);
    await waitFor(() => hub.status === "open" && s.mode === "full", () => `rejoined (${hub.status}, ${s.mode})`, 10_000);
    const lastJoin = frames(hub.trace, "out", "phx_join").at(-1);
    assert.deepEqual(lastJoin[4].cursor, { epoch, seq: 2 });
    const resume = joinReplies(hub.trace).at(-1)[4].response.resume;
    assert.ok(resume === "current" || resume === "replay", `resume ${resume}`);
    assert.equal(s.epoch, epoch);
    assert.deepEqual(s.state, state);
    assert.deepEqual(await s.push("add_todo", { text: "after" }), { seq: 3 });
  });
});
