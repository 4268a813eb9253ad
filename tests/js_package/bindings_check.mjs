// Run by tests/js_package.rs in a project with only the packed tabhub
// installed: the bindings that need no framework import and work there.
// tabhub/svelte imports nothing but the client: the hub's status as a
// store (the Svelte store contract), the current value at once, then each
// change, until unsubscribed.
import assert from "node:assert/strict";

import { TabHub } from "tabhub";
import { statusStore } from "tabhub/svelte";

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
const seen = [];
const stop = statusStore(hub).subscribe((status) => seen.push(status));
assert.deepEqual(seen, ["closed"], "the status at once");
hub.connect();
assert.deepEqual(seen, ["closed", "connecting"], "then each change");
stop();
hub.disconnect();
assert.deepEqual(seen, ["closed", "connecting"], "none after unsubscribe");
console.error("tabhub/svelte's statusStore follows the hub");
