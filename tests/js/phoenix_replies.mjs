// The official phoenix.js client sees reply data and the app's own reasons:
// against the real tabhub binary (demo app), a push's "ok" callback gets
// `{seq, data}` and its "error" callback `{reason, message, data}`.
// Usage: node tests/js/phoenix_replies.mjs ws://HOST:PORT/socket
// Exits 0 when every check passed, 1 with a message otherwise.

import { randomBytes, randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";

import { Socket } from "phoenix";
import WebSocket from "ws";

const url = process.argv[2];
if (!url) {
  console.error("usage: node tests/js/phoenix_replies.mjs ws://HOST:PORT/socket");
  process.exit(2);
}

const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out after 15 s"), 15_000).unref();

/** Resolves with [status, response] of a push. */
function reply(push) {
  return new Promise((resolve) => {
    push
      .receive("ok", (r) => resolve(["ok", r]))
      .receive("error", (r) => resolve(["error", r]))
      .receive("timeout", () => resolve(["timeout", null]));
  });
}

const socket = new Socket(url, { transport: WebSocket, params: { tab_id: "phx" } });
socket.connect();
const channel = socket.channel(`session:${randomBytes(16).toString("hex")}`, { cursor: null });
const [joined] = await reply(channel.join());
if (joined !== "ok") fail(`join: ${joined}`);

const [okStatus, ok] = await reply(
  channel.push("event", { id: randomUUID(), name: "add_todo_after", payload: { text: "later", delay_ms: 5 } }),
);
if (okStatus !== "ok") fail(`add_todo_after: ${okStatus} ${JSON.stringify(ok)}`);
if (ok.seq !== 1 || typeof ok.data?.id !== "string") fail(`ok reply must be {seq: 1, data: {id}}: ${JSON.stringify(ok)}`);

const [errStatus, err] = await reply(
  channel.push("event", { id: randomUUID(), name: "add_todo", payload: { text: "x".repeat(100_001) } }),
);
if (errStatus !== "error") fail(`a too long todo: ${errStatus} ${JSON.stringify(err)}`);
if (err.reason !== "too_long" || !isDeepStrictEqual(err.data, { max: 100000 }) || typeof err.message !== "string") {
  fail(`error reply must be {reason: "too_long", message, data: {max: 100000}}: ${JSON.stringify(err)}`);
}

console.log(`OK: ok ${JSON.stringify(ok)}; error ${JSON.stringify(err)}`);
socket.disconnect();
process.exit(0);
