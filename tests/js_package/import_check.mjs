// Run by tests/js_package.rs (as check.mjs) in a project with only the
// packed tabhub installed.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

import {
  PatchError,
  Session,
  TabHub,
  TabHubError,
  VERSION,
  applyPatch,
  defaultReconnectAfterMs,
} from "tabhub";

const resolved = fileURLToPath(import.meta.resolve("tabhub"));
assert.match(resolved, /[\\/]node_modules[\\/]tabhub[\\/]tabhub\.js$/, resolved);

assert.equal(VERSION, process.env.TABHUB_CRATE_VERSION);
for (const cls of [TabHub, Session, TabHubError, PatchError]) assert.equal(typeof cls, "function");
assert.ok(new TabHubError("timeout", "late") instanceof Error);
assert.equal(typeof defaultReconnectAfterMs(1), "number");
assert.deepEqual(applyPatch({ a: 1 }, [{ op: "replace", path: "/a", value: 2 }]), { a: 2 });
assert.throws(() => applyPatch({}, [{ op: "remove", path: "/nope" }]), PatchError);

// A hub over a socket that never opens: a session exists at once.
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
const hub = new TabHub({ url: "ws://127.0.0.1:1/socket", transport: NeverOpens, storage });
const session = hub.session();
assert.ok(session instanceof Session);
assert.equal(session.key, hub.token);
hub.disconnect();
console.error("imported tabhub", VERSION, "from", resolved);
