// tabhub.js where there is no page yet (server-side rendering): no
// `location` and, in Node 20, no WebSocket. Creating a hub and opening
// sessions there throws nothing and opens nothing; `connect()` says what
// is missing. Once the page exists (a `location`, a transport), the same
// hub connects by itself at the next `session()` and joins.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { TabHub } from "../../../assets/tabhub.js";
import { T, memoryStorage, randomKey, startServer, tracedTransport } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer(["--store", "memory"]);
});
after(async () => {
  delete globalThis.location;
  await server?.stop();
});

test("with no location and no WebSocket a hub is inert: nothing thrown, nothing opened", T, () => {
  assert.equal(globalThis.location, undefined, "Node has no location");
  const hub = new TabHub({ storage: memoryStorage() });
  assert.equal(hub.url, null);
  const s = hub.session(randomKey());
  assert.equal(s.mode, "joining", "a session is kept, waiting to join");
  assert.equal(hub.status, "closed", "no socket is opened");
  assert.throws(() => hub.connect(), /no location here; pass options.url/);
});

test("a hub made before the page had a location connects once it has one", T, async () => {
  const trace = [];
  const hub = new TabHub({ transport: tracedTransport(trace), storage: memoryStorage() });
  assert.equal(hub.url, null);
  // The page is there (hydration): the same hub connects at session().
  globalThis.location = { host: new URL(server.url).host, protocol: "http:" };
  const s = hub.session(randomKey());
  assert.deepEqual(await s.push("add_todo", { text: "hydrated" }), { seq: 1 });
  assert.equal(hub.url, `ws://${new URL(server.url).host}/socket`);
  assert.deepEqual(s.state.todos.map((t) => t.text), ["hydrated"]);
  hub.disconnect();
});
