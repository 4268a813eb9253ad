// Join params as a function (docs/javascript-client.md, "Join params"):
// called for every join and rejoin, its value is what the join sends, so
// a token refreshed in between reaches the server's authorize hook. Over a
// scripted fake server, which can drop a join (phx_error) and the socket.

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { snapshotReply, startFakeServer } from "./fake-server.mjs";
import { T, closeHubs, makeHub, randomKey, sleep, waitFor } from "./helpers.mjs";

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
  await sleep(20);
  fake.conns.length = 0;
});

const fastRetry = { reconnectAfterMs: () => 10 };

test("a params function is called for every (re)join and its new value is sent", T, async () => {
  let token = "token-1";
  let calls = 0;
  const hub = makeHub(fake, fastRetry);
  const key = randomKey();
  const s = hub.session(key, {
    params: () => {
      calls += 1;
      return { token };
    },
  });

  // The first join carries the token of its time.
  const c0 = await fake.conn(0);
  const j1 = await c0.next("phx_join", s.topic);
  assert.equal(j1[4].token, "token-1");
  assert.equal(calls, 1);
  c0.reply(j1, "ok", snapshotReply(hub.tabId));
  await waitFor(() => s.mode === "full", "first join");

  // The server drops the join (phx_error): the rejoin asks again.
  token = "token-2";
  c0.push(j1, "phx_error", {});
  const j2 = await c0.next("phx_join", s.topic);
  assert.equal(j2[4].token, "token-2", "the rejoin sends the refreshed token");
  assert.equal(calls, 2);
  assert.deepEqual(j2[4].cursor, { epoch: "e1", seq: 0 }, "params beside the protocol's own members");
  c0.reply(j2, "ok", { ...snapshotReply(hub.tabId), resume: "current" });
  await waitFor(() => s.mode === "full", "rejoin");

  // The socket drops: the join on the new socket asks again.
  token = "token-3";
  c0.close(1011, "restart");
  const c1 = await fake.conn(1);
  const j3 = await c1.next("phx_join", s.topic);
  assert.equal(j3[4].token, "token-3", "the join after a reconnect sends the token of its time");
  assert.equal(calls, 3);
});

test("a params function that throws delays the join, which is retried and then sent", T, async () => {
  let failures = 1;
  const hub = makeHub(fake, fastRetry);
  const errors = [];
  const consoleError = console.error;
  console.error = (...args) => errors.push(args);
  try {
    const s = hub.session(randomKey(), {
      params: () => {
        if (failures > 0) {
          failures -= 1;
          throw new Error("no token yet");
        }
        return { token: "late" };
      },
    });
    const c = await fake.conn(0);
    const join = await c.next("phx_join", s.topic);
    assert.equal(join[4].token, "late");
    assert.equal(s.error?.reason, "params", "the failed attempt is in session.error until a join succeeds");
    assert.match(String(errors[0]?.[1]), /no token yet/);
    assert.equal(c.frames.filter((f) => f[3] === "phx_join").length, 1, "nothing was sent for the failed attempt");
    c.reply(join, "ok", snapshotReply(hub.tabId));
    await waitFor(() => s.mode === "full", "join");
    assert.equal(s.error, null);
  } finally {
    console.error = consoleError;
  }
});

test("plain object params are sent unchanged in every join", T, async () => {
  const hub = makeHub(fake, fastRetry);
  const s = hub.session(randomKey(), { params: { room: "a" } });
  const c = await fake.conn(0);
  const j1 = await c.next("phx_join", s.topic);
  assert.equal(j1[4].room, "a");
  c.reply(j1, "ok", snapshotReply(hub.tabId));
  await waitFor(() => s.mode === "full", "join");
  c.push(j1, "phx_error", {});
  const j2 = await c.next("phx_join", s.topic);
  assert.equal(j2[4].room, "a");
});
