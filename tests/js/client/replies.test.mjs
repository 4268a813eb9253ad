// Replies with data and the app's own reasons, through tabhub.js against
// the real binary's demo app: `push` resolves `{seq, data}` when the
// handler gave a result value, and rejects with a TabHubError carrying the
// app's reason and data.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";

import { TabHubError } from "../../../assets/tabhub.js";
import { T, closeHubs, joinedFull, makeHub, randomKey, startServer } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  closeHubs();
  await server?.stop();
});
afterEach(() => closeHubs());

describe("replies with data and the app's own reasons", () => {
  test("push resolves with the handler's result value", T, async () => {
    const s = makeHub(server).session(randomKey());
    await joinedFull(s);
    const r = await s.push("add_todo_after", { text: "later", delay_ms: 10 });
    assert.equal(r.seq, 1);
    assert.deepEqual(Object.keys(r).sort(), ["data", "seq"]);
    assert.equal(r.data.id, s.state.todos[0].id, "the data names the new todo");
    assert.deepEqual(await s.push("add_todo", { text: "plain" }), { seq: 2 }, "no data, no key");
  });

  test("push rejects with the app's own reason, its message and its data", T, async () => {
    const s = makeHub(server).session(randomKey());
    await joinedFull(s);
    await assert.rejects(s.push("add_todo", { text: "x".repeat(100_001) }), (e) => {
      assert.ok(e instanceof TabHubError);
      assert.equal(e.reason, "too_long");
      assert.match(e.message, /at most 100000 characters/);
      assert.deepEqual(e.data, { max: 100000 });
      return true;
    });
    assert.equal(s.seq, 0, "nothing changed");
  });
});
