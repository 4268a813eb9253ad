// CI's check of `cargo install`: the installed binary (TABHUB_BIN) starts,
// serves a join over a real socket and answers an event. Its demo is the
// default one, which lists who is here: the join is delta 1, the event 2.
//
//   TABHUB_BIN=$ROOT/bin/tabhub node tests/js/installed.mjs

import assert from "node:assert/strict";

import { closeHubs, makeHub, randomKey, startServer } from "./client/helpers.mjs";

const server = await startServer(["--store", "memory"]);
try {
  const hub = makeHub(server);
  const session = hub.session(randomKey());
  assert.deepEqual(await session.push("add_todo", { text: "installed" }), { seq: 2 });
  assert.deepEqual(session.state.todos.map((t) => t.text), ["installed"]);
  assert.deepEqual(session.state.here, [{ tab: hub.tabId, visible: true }]);
  console.log(`${process.env.TABHUB_BIN} served a join and an event`);
} finally {
  closeHubs();
  await server.stop();
}
