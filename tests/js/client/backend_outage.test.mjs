// tabhub.js through the app proxy (`--app-url`) while the backend is down,
// then up: joins the backend could not decide get `unavailable`, which the
// client retries with its rejoin backoff, and the session joins by itself
// once the backend answers, on the same socket, with no reload.

import assert from "node:assert/strict";
import http from "node:http";
import { after, afterEach, describe, test } from "node:test";

import { T, closeCodes, closeHubs, frames, freePort, joinedFull, makeHub, randomKey, startServer, waitFor } from "./helpers.mjs";

const servers = [];
const backends = [];
after(async () => {
  closeHubs();
  for (const s of servers) await s.stop();
  for (const b of backends) await new Promise((resolve) => b.close(resolve));
});
afterEach(() => closeHubs());

/**
 * A backend on `port` that lets every join in, has no initial state, and
 * answers each event by adding 1 to `/n`. Records the calls' paths.
 */
function startBackend(port, calls) {
  const backend = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      calls.push(req.url);
      const answer = (status, json) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (req.url === "/join") return answer(200, { allow: true });
      if (req.url === "/event") {
        const n = JSON.parse(body).state?.n ?? 0;
        return answer(200, { patch: [{ op: "add", path: "/n", value: n + 1 }] });
      }
      return answer(404, {});
    });
  });
  backends.push(backend);
  return new Promise((resolve, reject) => {
    backend.once("error", reject);
    backend.listen(port, "127.0.0.1", () => resolve(backend));
  });
}

describe("backend outage", () => {
  test("a join the backend could not decide is retried, and joins by itself once the backend is back", T, async () => {
    const backendPort = await freePort();
    const server = await startServer(["--store", "memory", "--app-url", `http://127.0.0.1:${backendPort}`]);
    servers.push(server);
    const hub = makeHub(server);
    const s = hub.session(randomKey());

    // Down: nothing listens on the backend's port.
    await waitFor(() => s.error?.reason === "unavailable", () => `reason unavailable (error ${s.error?.reason})`);
    assert.equal(s.mode, "joining", "not closed: the client retries");
    await waitFor(() => frames(hub.trace, "out", "phx_join").length >= 2, "a retried join");

    // Up: the next retry is let in, and the session works.
    const calls = [];
    await startBackend(backendPort, calls);
    await joinedFull(s, 20_000);
    assert.equal(s.error, null);
    assert.deepEqual(await s.push("bump", {}), { seq: 1 });
    assert.deepEqual(s.state, { n: 1 });
    assert.ok(calls.includes("/join") && calls.includes("/event"), `backend calls: ${calls}`);
    assert.deepEqual(closeCodes(hub.trace), [], "the same socket throughout");
    assert.equal(hub.status, "open");
  });
});
