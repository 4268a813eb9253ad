// tabhub.js's page hooks (browser only: `window` online/offline, `document`
// visibilitychange), exercised in Node with EventTarget stand-ins for
// `window` and `document`, against the real binary.

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import {
  T,
  closeCodes,
  closeHubs,
  frames,
  joinedFull,
  makeHub,
  randomKey,
  sleep,
  startServer,
  waitFor,
} from "./helpers.mjs";

// Installed before any hub exists: the hub hooks the page on connect().
const win = new EventTarget();
const doc = new EventTarget();
doc.visibilityState = "visible";
globalThis.window = win;
globalThis.document = doc;

function setVisibility(state) {
  doc.visibilityState = state;
  doc.dispatchEvent(new Event("visibilitychange"));
}

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  closeHubs();
  await server?.stop();
  delete globalThis.window;
  delete globalThis.document;
});
afterEach(() => {
  closeHubs();
  doc.visibilityState = "visible";
});

test("offline closes the socket at once and waits; online reconnects, rejoins and sends what was pushed", T, async () => {
  const hub = makeHub(server, { reconnectAfterMs: () => 50 });
  const s = hub.session(randomKey());
  await s.push("add_todo", { text: "online" });
  const epoch = s.epoch;

  win.dispatchEvent(new Event("offline"));
  assert.equal(hub.status, "offline");
  assert.equal(s.mode, "joining");
  const pushed = s.push("add_todo", { text: "while offline" });
  await waitFor(() => closeCodes(hub.trace).length === 1, "the socket closed");
  await sleep(300);
  assert.equal(hub.status, "offline", "no reconnect while offline");
  assert.equal(frames(hub.trace, "out", "phx_join").length, 1);

  win.dispatchEvent(new Event("online"));
  assert.equal(hub.status, "connecting", "reconnects at once");
  assert.deepEqual(await pushed, { seq: 2 });
  assert.equal(hub.status, "open");
  const joins = frames(hub.trace, "out", "phx_join");
  assert.equal(joins.length, 2);
  assert.deepEqual(joins[1][4].cursor, { epoch, seq: 1 });
  assert.deepEqual(
    s.state.todos.map((t) => t.text),
    ["online", "while offline"],
  );
});

test("visibilitychange is reported to full joins and sent in joins; turning visible reconnects at once", T, async () => {
  const hub = makeHub(server, { reconnectAfterMs: () => 60_000 });
  const s = hub.session(randomKey());
  await joinedFull(s);
  setVisibility("hidden");
  assert.equal(hub.visibility, "hidden");
  await waitFor(() => frames(hub.trace, "out", "visibility").length === 1, "a visibility push");
  assert.deepEqual(frames(hub.trace, "out", "visibility")[0][4], { visibility: "hidden" });

  // Dropped while hidden, with a long backoff: showing the page reconnects now.
  win.dispatchEvent(new Event("offline"));
  setVisibility("visible");
  await joinedFull(s);
  const joins = frames(hub.trace, "out", "phx_join");
  assert.equal(joins.length, 2);
  assert.equal(joins[1][4].visibility, "visible");
  assert.equal(frames(hub.trace, "out", "visibility").length, 1, "no push while not joined");
});

test("disconnect() unhooks the page: online no longer reconnects", T, async () => {
  const hub = makeHub(server);
  const s = hub.session(randomKey());
  await joinedFull(s);
  hub.disconnect();
  win.dispatchEvent(new Event("online"));
  setVisibility("visible");
  await sleep(200);
  assert.equal(hub.status, "closed");
  assert.equal(frames(hub.trace, "out", "phx_join").length, 1);
});

test("the initial visibility comes from document.visibilityState", T, async () => {
  doc.visibilityState = "hidden";
  const hub = makeHub(server);
  const s = hub.session(randomKey());
  await joinedFull(s);
  assert.equal(frames(hub.trace, "out", "phx_join")[0][4].visibility, "hidden");
});

/** A `pagehide` or `pageshow` event, as the back/forward cache sends it. */
function pageEvent(type, persisted) {
  const e = new Event(type);
  e.persisted = persisted;
  return e;
}

test("back/forward cache: pagehide closes the socket and waits; pageshow reconnects and resumes from the cursor", T, async () => {
  const hub = makeHub(server, { reconnectAfterMs: () => 50 });
  const s = hub.session(randomKey());
  await s.push("add_todo", { text: "before" });
  const epoch = s.epoch;

  // A page that may be cached may hold no socket.
  win.dispatchEvent(pageEvent("pagehide", true));
  await waitFor(() => closeCodes(hub.trace).length === 1, "the socket closed");
  await sleep(300);
  assert.equal(frames(hub.trace, "out", "phx_join").length, 1, "no reconnect while cached");

  win.dispatchEvent(pageEvent("pageshow", true));
  await waitFor(() => hub.status === "open", "reconnected when restored");
  const joins = frames(hub.trace, "out", "phx_join");
  assert.equal(joins.length, 2);
  assert.deepEqual(joins[1][4].cursor, { epoch, seq: 1 }, "resumes from its cursor");
  assert.deepEqual(await s.push("add_todo", { text: "after" }), { seq: 2 });
});

test("a pagehide of a page that is not cached, and a first pageshow, change nothing", T, async () => {
  const hub = makeHub(server, { reconnectAfterMs: () => 50 });
  const s = hub.session(randomKey());
  await joinedFull(s);
  win.dispatchEvent(pageEvent("pagehide", false));
  win.dispatchEvent(pageEvent("pageshow", false));
  await sleep(200);
  assert.equal(hub.status, "open");
  assert.deepEqual(closeCodes(hub.trace), []);
  assert.equal(frames(hub.trace, "out", "phx_join").length, 1);
});
