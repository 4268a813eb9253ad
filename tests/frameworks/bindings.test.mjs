// The bindings outside a browser, on the staged package (no socket ever
// opens): tabhub/vue's refs follow the hub and the session and stop when
// their effect scope stops (as a component's does on unmount), and
// tabhub/react renders on the server (renderToString) from the same
// getters, with no connection.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";

import { ROOT } from "../browser/harness.mjs";

/** A socket that never opens: the hub stays "connecting" once connected. */
class NeverOpens {
  readyState = 0;
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  send() {}
  close() {}
}
const storage = { getItem: () => null, setItem() {} };
const KEY = "a".repeat(22);

let dir;
/** Imports `file` of the staged package (its "react"/"vue" from tests/js). */
const staged = (file) => import(pathToFileURL(path.join(dir, "tabhub", file)).href);
/** Imports `spec` as the staged package resolves it (one copy of the framework). */
const framework = (spec) => import(pathToFileURL(createRequire(path.join(dir, "tabhub", "x.js")).resolve(spec)).href);

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "tabhub-bindings-"));
  const run = spawnSync(process.execPath, ["clients/js/build.mjs", path.join(dir, "tabhub")], { cwd: ROOT, encoding: "utf8" });
  assert.equal(run.status, 0, `clients/js/build.mjs failed:\n${run.stderr}`);
  symlinkSync(path.join(ROOT, "tests/js/node_modules"), path.join(dir, "node_modules"), "dir");
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("tabhub/vue: the refs follow the hub's status, and stop when the scope stops", async () => {
  const { effectScope } = await framework("vue");
  const { TabHub } = await staged("tabhub.js");
  const { useSession } = await staged("vue.js");
  const hub = new TabHub({ url: "ws://127.0.0.1:1/socket", transport: NeverOpens, storage });
  hub.disconnect(); // stays closed until connect()
  const scope = effectScope();
  const view = scope.run(() => useSession(hub, KEY));
  assert.equal(view.session.value, hub.session(KEY), "the hub's session for the key");
  assert.equal(view.state.value, undefined, "no state before the first join");
  assert.equal(view.mode.value, "joining");
  assert.equal(view.status.value, "closed");
  hub.connect();
  assert.equal(view.status.value, "connecting", "the status ref follows the hub");
  scope.stop();
  hub.disconnect();
  assert.equal(view.status.value, "connecting", "no update after the scope stopped");
});

test("tabhub/vue: a key given as a ref moves the refs to the new session", async () => {
  const { effectScope, nextTick, ref } = await framework("vue");
  const { TabHub } = await staged("tabhub.js");
  const { useSession } = await staged("vue.js");
  const hub = new TabHub({ url: "ws://127.0.0.1:1/socket", transport: NeverOpens, storage });
  const key = ref(KEY);
  const scope = effectScope();
  const view = scope.run(() => useSession(hub, key));
  key.value = "b".repeat(22);
  await nextTick();
  assert.equal(view.session.value.key, "b".repeat(22));
  assert.equal(view.session.value, hub.session("b".repeat(22)));
  scope.stop();
  hub.disconnect();
});

test("tabhub/react: renders on the server with no connection (an inert hub)", async () => {
  const { createElement } = await framework("react");
  const { renderToString } = await framework("react-dom/server");
  const { TabHub } = await staged("tabhub.js");
  const { useSession } = await staged("react.js");
  // No url and no `location` here: the hub is inert, as during SSR.
  const hub = new TabHub({ storage });
  function Status() {
    const { state, status, mode, tabs } = useSession(hub, KEY);
    return createElement("p", null, `${status} ${mode} ${tabs} ${state === undefined}`);
  }
  assert.equal(renderToString(createElement(Status)), "<p>closed joining null true</p>");
  assert.equal(hub.status, "closed", "rendering did not connect");
});

test("tabhub/svelte: infoStore gives the session's join facts at once, and stops on unsubscribe", async () => {
  const { get } = await framework("svelte/store");
  const { TabHub } = await staged("tabhub.js");
  const { infoStore } = await staged("svelte.js");
  const hub = new TabHub({ url: "ws://127.0.0.1:1/socket", transport: NeverOpens, storage });
  const session = hub.session(KEY);
  const info = infoStore(session);
  assert.deepEqual(get(info), { mode: "joining", leader: false, tabs: null, error: null });
  const seen = [];
  const unsubscribe = info.subscribe((value) => seen.push(value.mode));
  session.leave();
  assert.deepEqual(seen, ["joining", "closed"], "the leave is a change it reports");
  unsubscribe();
  hub.session("c".repeat(22)).leave();
  assert.equal(seen.length, 2, "nothing after unsubscribing");
  hub.disconnect();
});
