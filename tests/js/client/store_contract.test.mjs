// Session as a store: the Svelte store contract (`subscribe(fn)` calls
// `fn(value)` at once and on every change, and returns the unsubscribe
// function) and what React's `useSyncExternalStore(subscribe, getSnapshot)`
// needs (`s.state` is the same object until a change, a new one after).
// No framework is installed: each test does what the framework does.
//

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";

import { TabHub } from "../../../assets/tabhub.js";
import { T, closeHubs, joinedFull, makeHub, randomKey, startServer } from "./helpers.mjs";


/** svelte/store's `get`: subscribe, take the value it was called with at once, unsubscribe. */
function svelteGet(store) {
  let value = "<not called at once>";
  store.subscribe((v) => (value = v))();
  return value;
}

/** A socket that never opens: a hub whose sessions stay "joining". */
class NeverOpens {
  readyState = 0;
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  send() {}
  close() {}
}

function offlineSession() {
  const hub = new TabHub({
    url: "ws://127.0.0.1:1/socket",
    transport: NeverOpens,
    storage: { getItem: () => null, setItem() {} },
  });
  const s = hub.session(randomKey());
  hub.disconnect();
  return s;
}

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  closeHubs();
  await server?.stop();
});
afterEach(() => closeHubs());

describe("Session as a Svelte store", () => {
  test("subscribe returns the unsubscribe function: no call after it, calling it twice is harmless", T, async () => {
    const s = makeHub(server).session(randomKey());
    await joinedFull(s);
    const seen = [];
    const unsubscribe = s.subscribe((state) => seen.push(state));
    assert.equal(typeof unsubscribe, "function");
    await s.push("add_todo", { text: "one" });
    assert.equal(seen.at(-1), s.state, "called with the new state");
    const calls = seen.length;
    unsubscribe();
    unsubscribe();
    await s.push("add_todo", { text: "two" });
    assert.equal(seen.length, calls, "not called after unsubscribe");
  });

  test("subscribe takes Svelte's second argument (invalidate) and ignores it", T, () => {
    const s = offlineSession();
    let invalidated = 0;
    const unsubscribe = s.subscribe(
      () => {},
      () => invalidated++,
    );
    unsubscribe();
    assert.equal(invalidated, 0);
  });

  test("subscribe calls fn at once, synchronously, with the current state: undefined before the first join", T, () => {
    const s = offlineSession();
    const seen = [];
    s.subscribe((state) => seen.push(state))();
    assert.deepEqual(seen, [undefined]);
  });

  test("subscribe calls fn at once with the joined state, then once per change", T, async () => {
    const s = makeHub(server).session(randomKey());
    await joinedFull(s);
    const seen = [];
    const unsubscribe = s.subscribe((state) => seen.push(state));
    assert.equal(seen.length, 1, "called at once");
    assert.equal(seen[0], s.state);
    await s.push("add_todo", { text: "one" });
    assert.equal(seen.length, 2);
    assert.equal(seen[1], s.state);
    unsubscribe();
  });

  test("svelte/store get() reads the current state", T, async () => {
    const s = makeHub(server).session(randomKey());
    await joinedFull(s);
    await s.push("add_todo", { text: "one" });
    assert.equal(svelteGet(s), s.state);
  });
});

describe("Session with React's useSyncExternalStore", () => {
  test("getSnapshot () => s.state is the same object until a change and a new one after it", T, async () => {
    const s = makeHub(server).session(randomKey());
    await joinedFull(s);
    const before = s.state;
    const snapshot = JSON.stringify(before);
    assert.equal(s.state, before, "stable between changes");
    let changes = 0;
    const unsubscribe = s.subscribe(() => changes++);
    await s.push("add_todo", { text: "one" });
    assert.ok(changes >= 1, "subscribe's callback ran on the change");
    assert.notEqual(s.state, before, "a change gives a new object");
    assert.equal(JSON.stringify(before), snapshot, "the old snapshot is not mutated");
    unsubscribe();
  });

  test("subscribe works detached, as useSyncExternalStore(s.subscribe, () => s.state) calls it", T, async () => {
    const s = makeHub(server).session(randomKey());
    await joinedFull(s);
    const { subscribe } = s;
    let changes = 0;
    const unsubscribe = subscribe(() => changes++);
    await s.push("add_todo", { text: "one" });
    assert.ok(changes >= 1);
    unsubscribe();
  });
});
