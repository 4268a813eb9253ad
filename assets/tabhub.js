// @ts-check
/**
 * tabhub.js: the tabhub client, one ES module with no dependencies.
 *
 * It speaks the protocol of docs/protocol.md (Phoenix Channels V2 JSON
 * framing): one WebSocket per page, any number of sessions joined over it,
 * each with its own cursor.
 * docs/client-api.md is the user's guide; the JSDoc here is the reference.
 *
 * ```js
 * import { TabHub } from "/tabhub.js";
 * const hub = new TabHub();
 * const s = hub.session();                 // the browser's own session, joined full
 * s.subscribe((state) => render(state));   // at once, then after every snapshot, replay or delta
 * await s.push("add_todo", { text: "hi" }); // resolves {seq} once the delta is applied
 * ```
 *
 * Works in browsers and in Node (pass `transport` and, if you want one,
 * `storage`; without `document`/`window` the page hooks are simply off).
 *
 * @module tabhub
 */

/** Version of this client: the tabhub crate's, which is also the npm package's (tests/js_package.rs keeps them equal). */
export const VERSION = "0.1.0";

// ---------------------------------------------------------------------------
// Protocol constants (mirrors src/protocol/mod.rs).

const VSN = "2.0.0";
const PHOENIX_TOPIC = "phoenix";
const SESSION_PREFIX = "session:";
const EV = Object.freeze({
  JOIN: "phx_join",
  LEAVE: "phx_leave",
  REPLY: "phx_reply",
  ERROR: "phx_error",
  CLOSE: "phx_close",
  HEARTBEAT: "heartbeat",
  EVENT: "event",
  VISIBILITY: "visibility",
  CANCEL: "cancel",
  DELTA: "delta",
  EFFECT: "effect",
  CHAIN: "chain",
  TASK: "task",
  TABS: "tabs",
  LEADER: "leader",
  SUMMARY: "summary",
});
/** Session keys: docs/protocol.md section 5.1 (topics and keys). */
const KEY_RE = /^[A-Za-z0-9_-]{22,128}$/;
/** Tab ids: docs/protocol.md section 2.1 (URL). */
const TAB_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * Close codes after which the client must not reconnect: docs/protocol.md
 * section 14 (close codes).
 */
const CLOSE_REPLACED = 4001;
const CLOSE_POLICY = 1008;
/**
 * Join error reasons that retrying cannot fix: the session is closed. Every
 * other reason (`unavailable`: the app could not decide now, `capacity`,
 * `store_error`, ...) is retried with the rejoin backoff.
 */
const PERMANENT_JOIN_ERRORS = new Set(["unauthorized", "invalid_key", "unmatched topic", "invalid_payload"]);
/** setTimeout's largest delay; longer ones fire at once in browsers and Node. */
const MAX_TIMER_MS = 2 ** 31 - 1;

// ---------------------------------------------------------------------------
// Types.

/**
 * `"connecting"` (opening a socket or waiting to retry), `"open"`,
 * `"offline"` (the browser said so; waiting for `online` or the page to show),
 * `"closed"` (never connected, `disconnect()`ed, or closed with 4001/1008).
 * @typedef {"connecting" | "open" | "offline" | "closed"} Status
 */

/**
 * `"joining"`: not joined right now (waiting for the socket or a join reply);
 * `"full"`: joined, state and deltas flow; `"summary"`: evicted by the MRU
 * cap, only `summary` updates flow; `"closed"`: left, or refused for good.
 * @typedef {"joining" | "full" | "summary" | "closed"} Mode
 */

/** @typedef {"visible" | "hidden"} Visibility */

/**
 * A position in a session's history: the last delta a client applied.
 * @typedef {{epoch: string, seq: number}} Cursor
 */

/**
 * Anything with `getItem`/`setItem` (Web Storage's shape).
 * @typedef {{getItem(key: string): string | null, setItem(key: string, value: string): void}} StorageLike
 */

/**
 * A WebSocket constructor: the browser's, or npm `ws` (or a subclass of it).
 * @typedef {new (url: string) => WebSocketLike} TransportCtor
 */

/**
 * The part of the WebSocket API the client uses.
 * @typedef {object} WebSocketLike
 * @property {number} readyState
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 * @property {((ev: any) => void) | null} onopen
 * @property {((ev: {data: any}) => void) | null} onmessage
 * @property {((ev: {code: number, reason?: string}) => void) | null} onclose
 * @property {((ev: any) => void) | null} onerror
 */

/**
 * Options of {@link TabHub}. Every member is optional.
 * @typedef {object} TabHubOptions
 * @property {string} [url] Socket base URL; the client appends
 *   `/websocket?vsn=2.0.0&tab_id=..`. Default `ws(s)://<location.host>/socket`
 *   (required where there is no `location`, e.g. Node).
 * @property {"session" | "local" | StorageLike} [storage] Where the client
 *   token lives: `"session"` (default: sessionStorage), `"local"`
 *   (localStorage), or any `{getItem, setItem}`. Falls back to page memory
 *   when the storage is missing or throws.
 * @property {string} [tokenKey] Storage item name of the token, default `"tabhub:token"`.
 * @property {Record<string, string | number | boolean>} [params] Extra connect
 *   params for the query string (the app's connect params).
 * @property {TransportCtor} [transport] WebSocket constructor, default `globalThis.WebSocket`.
 * @property {string} [tabId] This page instance's tab id (1-64 of `[A-Za-z0-9_-]`);
 *   default random. Never stored.
 * @property {number} [heartbeatIntervalMs] Heartbeat period, default 30000;
 *   `0`/`Infinity` turns heartbeats off. A heartbeat unanswered by the next
 *   one drops the socket and reconnects.
 * @property {(tries: number) => number} [reconnectAfterMs] Delay before retry
 *   number `tries` (1, 2, ...) of a connection or a failed join. Default:
 *   exponential from 250 ms doubling to a 10 s cap, with jitter (50-100%).
 * @property {number} [maxFullJoins] MRU cap on full joins, default `Infinity`:
 *   opening a session beyond it drops the least recently opened one to a
 *   summary join.
 * @property {number} [pushTimeoutMs] How long `push`/`cancel` wait for their
 *   reply, counted from the call and including time spent disconnected;
 *   default 30000. Then they reject with reason `"timeout"`.
 * @property {number} [joinTimeoutMs] A join unanswered this long is sent
 *   again; default 10000.
 * @property {Visibility} [visibility] Initial visibility; default from
 *   `document.visibilityState`, else `"visible"`.
 */

/**
 * Options of {@link TabHub#session}.
 * @typedef {object} SessionOptions
 * @property {(chain: Chain) => any} [onChain] Called for each chained
 *   event sent to this tab; its (awaited) return value is the payload
 *   re-submitted (`undefined`: the payload unchanged). If it throws, the
 *   chain is not re-submitted here (the server re-sends it to the leader
 *   after its chain timeout) and the error is reported via `console.error`.
 * @property {JoinParams} [params] App join params, sent in every join of
 *   this session (for the app's authorize hook): an object, or a function
 *   called for every join and rejoin whose result is sent, so a join can
 *   carry a token refreshed since the last one.
 */

/**
 * App join params, or a function giving them for each (re)join. If the
 * function throws, that join is not sent: the error goes to
 * `console.error` and to `session.error` (reason `"params"`), and the join
 * is retried with the rejoin backoff.
 * @typedef {Record<string, any> | (() => Record<string, any>)} JoinParams
 */

/**
 * A chained event to re-submit: docs/protocol.md section 10 (chains).
 * @typedef {{chain: string, name: string, payload: any}} Chain
 */

/**
 * A frontend-only effect: docs/protocol.md section 7 (server pushes).
 * @typedef {{kind: string, data: any}} Effect
 */

/**
 * A background task's life stage: docs/protocol.md section 7 (server pushes).
 * @typedef {{task: string, status: "running" | "done" | "failed" | "cancelled", error?: string}} TaskMessage
 */

/**
 * A state change: the RFC 6902 patch from seq-1 to seq.
 * @typedef {{seq: number, patch: PatchOperation[], event_id: string | null}} Delta
 */

/**
 * One RFC 6902 operation.
 * @typedef {object} PatchOperation
 * @property {"add" | "remove" | "replace" | "move" | "copy" | "test"} op
 * @property {string} path JSON Pointer (RFC 6901).
 * @property {string} [from] With `move` and `copy`.
 * @property {any} [value] With `add`, `replace` and `test`.
 */

/**
 * What a successful `push` resolves to: the seq at which its effects are
 * visible, and the handler's result value if it gave one (`Context::reply`
 * in Rust, `reply` in an app proxy's answer).
 * @template [R=any] The result value's type: the event's `reply` in the
 *   session's {@link EventMap}.
 * @typedef {{seq: number, data?: R}} PushResult
 */

// Typed events (docs/javascript-client.md, "Typed events").

/**
 * One event of an app: the type of its payload and of the result value
 * its handler replies with (`PushResult.data`). An optional `payload?`
 * may be left out of `push` (the wire default is `{}`); without `reply`,
 * the handler gives none (`data` is `undefined`).
 * @typedef {{payload?: any, reply?: any}} EventSpec
 */

/**
 * The events an app accepts, by name: the second type parameter of
 * {@link Session}. Write one by hand:
 * `{add_todo: {payload: {text: string}, reply: {id: string}}, clear: {payload: {}}}`,
 * or derive it from Rust types with {@link EventsOf}.
 * @typedef {{[name: string]: EventSpec}} EventMap
 */

/**
 * The default events of a {@link Session}: any name, any payload, any
 * reply, as untyped code has always had.
 * @typedef {{[name: string]: {payload: any, reply: any}}} AnyEvents
 */

/**
 * The event names of `E`.
 * @template E
 * @typedef {keyof E & string} EventName
 */

/**
 * What `push` takes after the name: the payload, optional where the
 * payload type accepts `undefined`.
 * @template {EventMap} E @template {keyof E} N
 * @typedef {undefined extends E[N]["payload"] ? [payload?: E[N]["payload"]] : [payload: E[N]["payload"]]} PayloadArgs
 */

/**
 * The reply data type of event spec `T`: its `reply`, else `undefined`.
 * @template T
 * @typedef {T extends {reply: infer R} ? R : undefined} ReplyOf
 */

/**
 * An {@link EventMap} from a union of `{name, payload}` objects: the JSON
 * of an adjacently tagged serde enum (`#[serde(tag = "name", content =
 * "payload")]`), which `ts-rs` or `specta` emit for an app's `Event`.
 * `Replies` maps event names to their reply data types (events it leaves
 * out reply with none).
 * `EventsOf<CounterEvent, {add: AddReply}>` (docs/embedding.md).
 * @template {{name: string}} U
 * @template [Replies={}]
 * @typedef {{[N in U["name"]]: {payload: Extract<U, {name: N}> extends {payload: infer P} ? P : undefined, reply: N extends keyof Replies ? Replies[N] : undefined}}} EventsOf
 */

// ---------------------------------------------------------------------------
// Errors.

/**
 * Why a push, a cancel or a join failed. `reason` is the server's reason
 * (`unknown_event`, `invalid_payload`, `handler_error`, `queue_full`,
 * `rate_limited`, `unauthorized`, `unavailable`, ..., or the app's own, like
 * `out_of_stock`, with its `data`) or one of the client's own:
 * `timeout`, `summary_only` (the session is evicted to a summary join),
 * `left`, `closed`, `disconnected` (`hub.disconnect()`), `replaced` (close
 * 4001), `policy` (close 1008).
 */
export class TabHubError extends Error {
  /**
   * @param {string} reason
   * @param {string} [message]
   * @param {any} [response] The server's whole error response, if any.
   */
  constructor(reason, message, response) {
    super(message || reason);
    this.name = "TabHubError";
    /** @type {string} */
    this.reason = reason;
    /** @type {any} */
    this.response = response;
    /** The app's data about its refusal, if it gave any. @type {any} */
    this.data = response?.data;
  }
}

/** An RFC 6902 patch that cannot be applied. */
export class PatchError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "PatchError";
  }
}

// ---------------------------------------------------------------------------
// RFC 6902 JSON Patch over RFC 6901 pointers.
//
// Copy-on-write: containers on the paths an operation touches are copied
// once per patch (tracked in `owned`), everything else is shared with the
// input, which is never mutated. So a failed patch leaves nothing behind,
// and unchanged subtrees keep their identity (cheap re-renders).

const hasOwn = (/** @type {object} */ o, /** @type {string} */ k) => Object.prototype.hasOwnProperty.call(o, k);
const isObject = (/** @type {any} */ v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isContainer = (/** @type {any} */ v) => v !== null && typeof v === "object";

/** Sets an own data property (also for a key named `__proto__`). */
function setKey(/** @type {any} */ obj, /** @type {string} */ key, /** @type {any} */ value) {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** @param {string} pointer @returns {string[]} */
function parsePointer(pointer) {
  if (typeof pointer !== "string") throw new PatchError(`a JSON Pointer must be a string, got ${show(pointer)}`);
  if (pointer === "") return [];
  if (pointer[0] !== "/") throw new PatchError(`a JSON Pointer must start with "/": ${show(pointer)}`);
  return pointer
    .slice(1)
    .split("/")
    .map((token) => {
      if (/~[^01]|~$/.test(token)) throw new PatchError(`bad escape in JSON Pointer ${show(pointer)}`);
      return token.replace(/~1/g, "/").replace(/~0/g, "~");
    });
}

/**
 * An array index token: `0` or digits without a leading zero; `-` (one past
 * the end) only where adding.
 * @param {any[]} array @param {string} token @param {boolean} adding
 */
function arrayIndex(array, token, adding) {
  if (adding && token === "-") return array.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`bad array index ${show(token)}`);
  const i = Number(token);
  if (i > array.length || (!adding && i === array.length)) {
    throw new PatchError(`array index ${i} out of bounds (length ${array.length})`);
  }
  return i;
}

/** @param {any} node @param {string} token @param {string[]} tokens */
function child(node, token, tokens) {
  if (Array.isArray(node)) return node[arrayIndex(node, token, false)];
  if (isObject(node) && hasOwn(node, token)) return node[token];
  throw new PatchError(`no value at ${show(toPointer(tokens))}`);
}

/** @param {any} doc @param {string[]} tokens */
function valueAt(doc, tokens) {
  let node = doc;
  for (let i = 0; i < tokens.length; i++) node = child(node, tokens[i], tokens.slice(0, i + 1));
  return node;
}

/** @param {string[]} tokens */
function toPointer(tokens) {
  return tokens.map((t) => "/" + t.replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

/** A shallow copy of a container, marked as owned by this patch. @param {any} node @param {Set<any>} owned */
function own(node, owned) {
  if (owned.has(node)) return node;
  let copy;
  if (Array.isArray(node)) copy = node.slice();
  else {
    copy = {};
    for (const k of Object.keys(node)) setKey(copy, k, node[k]);
  }
  owned.add(copy);
  return copy;
}

/**
 * Copies the containers from the root down to the parent of `tokens` (each
 * at most once per patch), calls `edit(parent, lastToken)` on the owned
 * parent and returns the new root.
 * @param {any} root @param {string[]} tokens @param {Set<any>} owned
 * @param {(parent: any, last: string) => void} edit
 */
function editParent(root, tokens, owned, edit) {
  if (!isContainer(root)) throw new PatchError(`no container at ${show(toPointer(tokens.slice(0, 1)))}`);
  const newRoot = own(root, owned);
  let node = newRoot;
  for (let i = 0; i < tokens.length - 1; i++) {
    const next = child(node, tokens[i], tokens.slice(0, i + 1));
    if (!isContainer(next)) throw new PatchError(`no container at ${show(toPointer(tokens.slice(0, i + 1)))}`);
    const copy = own(next, owned);
    if (copy !== next) {
      if (Array.isArray(node)) node[Number(tokens[i])] = copy;
      else setKey(node, tokens[i], copy);
    }
    node = copy;
  }
  edit(node, tokens[tokens.length - 1]);
  return newRoot;
}

/** @param {any} root @param {string[]} tokens @param {any} value @param {Set<any>} owned */
function addAt(root, tokens, value, owned) {
  if (tokens.length === 0) return value;
  return editParent(root, tokens, owned, (parent, last) => {
    if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true), 0, value);
    else setKey(parent, last, value);
  });
}

/** @param {any} root @param {string[]} tokens @param {Set<any>} owned */
function removeAt(root, tokens, owned) {
  if (tokens.length === 0) throw new PatchError("cannot remove the whole document");
  return editParent(root, tokens, owned, (parent, last) => {
    if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false), 1);
    else if (hasOwn(parent, last)) delete parent[last];
    else throw new PatchError(`no value to remove at ${show(toPointer(tokens))}`);
  });
}

/** @param {any} root @param {string[]} tokens @param {any} value @param {Set<any>} owned */
function replaceAt(root, tokens, value, owned) {
  if (tokens.length === 0) return value;
  return editParent(root, tokens, owned, (parent, last) => {
    if (Array.isArray(parent)) parent[arrayIndex(parent, last, false)] = value;
    else if (hasOwn(parent, last)) setKey(parent, last, value);
    else throw new PatchError(`no value to replace at ${show(toPointer(tokens))}`);
  });
}

/** Deep copy of a JSON value. @param {any} v @returns {any} */
function cloneJson(v) {
  if (Array.isArray(v)) return v.map(cloneJson);
  if (isObject(v)) {
    const out = {};
    for (const k of Object.keys(v)) setKey(out, k, cloneJson(v[k]));
    return out;
  }
  return v;
}

/** JSON equality: objects by key set, arrays in order. @param {any} a @param {any} b @returns {boolean} */
function jsonEqual(a, b) {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** @param {any} op @param {string} member */
function required(op, member) {
  if (!hasOwn(op, member)) throw new PatchError(`"${op.op}" needs "${member}": ${show(op)}`);
  return op[member];
}

/** @param {any} root @param {any} op @param {Set<any>} owned */
function applyOperation(root, op, owned) {
  if (!isObject(op)) throw new PatchError(`an operation must be an object, got ${show(op)}`);
  const path = parsePointer(required(op, "path"));
  switch (op.op) {
    case "add":
      return addAt(root, path, required(op, "value"), owned);
    case "remove":
      return removeAt(root, path, owned);
    case "replace":
      return replaceAt(root, path, required(op, "value"), owned);
    case "move": {
      const from = parsePointer(required(op, "from"));
      const value = valueAt(root, from);
      if (from.length === path.length && from.every((t, i) => t === path[i])) return root;
      if (from.length < path.length && from.every((t, i) => t === path[i])) {
        throw new PatchError(`cannot move ${show(op.from)} into its own child ${show(op.path)}`);
      }
      return addAt(removeAt(root, from, owned), path, value, owned);
    }
    case "copy": {
      const from = parsePointer(required(op, "from"));
      // A deep copy: the source may be a container this patch owns and
      // edits in place later, which must not show through the copy.
      return addAt(root, path, cloneJson(valueAt(root, from)), owned);
    }
    case "test":
      if (!jsonEqual(valueAt(root, path), required(op, "value"))) {
        throw new PatchError(`test failed at ${show(op.path)}`);
      }
      return root;
    default:
      throw new PatchError(`unknown operation ${show(op.op)}`);
  }
}

/**
 * Applies an RFC 6902 JSON Patch and returns the new document. The input
 * document is never mutated (unchanged subtrees are shared with the result,
 * so treat both as immutable); on any error nothing is applied.
 *
 * @template T
 * @param {T} doc A JSON value.
 * @param {PatchOperation[]} patch
 * @returns {any}
 * @throws {PatchError} When an operation is malformed, a path does not
 *   exist, or a `test` fails.
 */
export function applyPatch(doc, patch) {
  if (!Array.isArray(patch)) throw new PatchError(`a patch must be an array, got ${show(patch)}`);
  /** @type {Set<any>} */
  const owned = new Set();
  let root = /** @type {any} */ (doc);
  for (const op of patch) root = applyOperation(root, op, owned);
  return root;
}

// ---------------------------------------------------------------------------
// Small helpers.

/** @param {any} v */
function show(v) {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 200 ? s.slice(0, 200) + "..." : s;
  } catch {
    return String(v);
  }
}

/** @param {number} n */
function randomBytes(n) {
  const bytes = new Uint8Array(n);
  const c = globalThis.crypto;
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
  else for (let i = 0; i < n; i++) bytes[i] = Math.floor(Math.random() * 256);
  return bytes;
}

/** @param {Uint8Array} bytes */
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** A fresh event id: a v4 uuid (crypto.randomUUID where there is one). */
function newEventId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The default reconnect delay: 250 ms doubling per try up to 10 s, then a
 * random 50-100% of it so that many clients dropped together spread out.
 * @param {number} tries 1 for the first retry.
 */
export function defaultReconnectAfterMs(tries) {
  const base = Math.min(10_000, 250 * 2 ** Math.max(0, Math.min(tries - 1, 16)));
  return base / 2 + Math.random() * (base / 2);
}

/** Calls a user callback; an exception in it is reported, not thrown into the client. @param {Function} fn @param {any[]} args */
function callSafely(fn, ...args) {
  try {
    fn(...args);
  } catch (e) {
    reportError(e);
  }
}

/** @param {any} e */
function reportError(e) {
  const g = /** @type {any} */ (globalThis);
  if (typeof g.reportError === "function") g.reportError(e);
  else setTimeout(() => {
    throw e;
  }, 0);
}

/** @returns {StorageLike} */
function memoryStorage() {
  const items = new Map();
  return {
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => void items.set(k, String(v)),
  };
}

/** @param {TabHubOptions["storage"]} option @returns {StorageLike} */
function resolveStorage(option) {
  if (option && typeof option === "object") return option;
  try {
    const g = /** @type {any} */ (globalThis);
    const store = option === "local" ? g.localStorage : g.sessionStorage;
    if (store && typeof store.getItem === "function") {
      // Safari's private mode and sandboxed frames throw on access.
      store.getItem("tabhub:probe");
      return store;
    }
  } catch {
    // fall through to page memory
  }
  return memoryStorage();
}

/**
 * One push waiting for its reply (event or cancel). It stays in its
 * session's queue until a reply settles it or it times out, and is (re)sent
 * after every successful join, with the same event id: the server handles
 * an id at most once and repeats the first outcome.
 * @internal
 * @typedef {object} PendingPush
 * @property {string} event Frame event: "event" or "cancel".
 * @property {any} payload
 * @property {(response: any) => void} resolve
 * @property {(error: TabHubError) => void} reject
 * @property {string | null} ref Ref of the last send, null while unsent.
 * @property {string | null} joinRef Join ref of the last send.
 * @property {ReturnType<typeof setTimeout> | undefined} timer
 * @property {number} misses "unmatched topic" replies so far (a server
 *   that keeps saying so gets the push rejected, not re-sent forever).
 */

/** A listener list: `add` returns the unsubscribe function. @template {any[]} A */
class Listeners {
  constructor() {
    /** @type {Set<(...args: A) => void>} */
    this.set = new Set();
  }
  /** @param {(...args: A) => void} fn */
  add(fn) {
    if (typeof fn !== "function") throw new TypeError("a listener must be a function");
    this.set.add(fn);
    return () => void this.set.delete(fn);
  }
  /** @param {A} args */
  emit(...args) {
    for (const fn of [...this.set]) callSafely(fn, ...args);
  }
}

// ---------------------------------------------------------------------------
// Session.

/**
 * One session as this page sees it: its state and cursor (full join) or its
 * summary (summary join). Get one with {@link TabHub#session}; the same key
 * gives the same object until it is left.
 * @template [S=any] The state's type.
 * @template {EventMap} [E=AnyEvents] The app's events: names, payloads
 *   and replies ({@link EventMap}); `push` checks against it.
 */
export class Session {
  /**
   * @param {TabHub} hub
   * @param {string} key
   * @param {SessionOptions} options
   */
  constructor(hub, key, options) {
    /** @private */
    this._hub = hub;
    /** The session key (changes only on a `new_key` refusal). @type {string} */
    this.key = key;
    /** `"session:" + key`. @type {string} */
    this.topic = SESSION_PREFIX + key;
    /** The session's state as of `seq`; `undefined` before the first full join. Treat it as immutable. @type {S | undefined} */
    this.state = undefined;
    /** The seq of `state`, or null. @type {number | null} */
    this.seq = null;
    /** The epoch of `state`, or null. @type {string | null} */
    this.epoch = null;
    /** Whether this tab is the session's elected tab (false unless full). */
    this.leader = false;
    /** Tabs joined to the session, this one included (last known). @type {number | null} */
    this.tabs = null;
    /** The app's summary (summary joins), last known; null if none. @type {any} */
    this.summary = null;
    /** @type {Mode} */
    this.mode = "joining";
    /** The last join error (cleared by a successful join). @type {TabHubError | null} */
    this.error = null;
    /**
     * How the last full join caught up: "snapshot" (whole state), "replay"
     * (the missed deltas) or "current" (nothing missed); null before one.
     * @type {"snapshot" | "replay" | "current" | null}
     */
    this.resume = null;

    /** @internal @type {SessionOptions["onChain"]} */
    this._onChain = options.onChain;
    /** @internal @type {JoinParams} */
    this._params = options.params ?? {};
    /** @internal @type {"full" | "summary"} what the page wants this join to be */
    this._want = "full";
    /** @internal whether `state` is a real state (so the cursor can be sent) */
    this._hasState = false;
    /**
     * @internal The held state cannot be proven to match (epoch, seq): the
     * next full join sends cursor null. Set by a summary join (eviction),
     * a gap, a patch that does not apply or a bad join reply; cleared only
     * by a successful full join.
     */
    this._needsSnapshot = false;
    /** @internal @type {string | null} join ref of the current join attempt */
    this._joinRef = null;
    /** @internal whether the current join got its ok reply */
    this._joined = false;
    /** @internal consecutive failed join attempts (for the backoff) */
    this._joinTries = 0;
    /** @internal @type {ReturnType<typeof setTimeout> | undefined} */
    this._joinTimer = undefined;
    /** @internal @type {PendingPush[]} pushes in call order */
    this._pending = [];
    /** @private @type {Set<string>} chain ids being handled */
    this._chains = new Set();

    /** @private @type {Listeners<[S, Session<S, E>]>} */
    this._stateListeners = new Listeners();
    /** @private @type {Listeners<[Effect]>} */
    this._effectListeners = new Listeners();
    /** @private @type {Listeners<[TaskMessage]>} */
    this._taskListeners = new Listeners();
    /** @private @type {Listeners<[Session<S, E>]>} */
    this._changeListeners = new Listeners();
    // Bound, so `subscribe` can be passed around detached (React's
    // useSyncExternalStore, Svelte's `$store` on a destructured method).
    this.subscribe = this.subscribe.bind(this);
  }

  /** The cursor of `state` if it is provably exact, else null (the next full join asks for a snapshot). @returns {Cursor | null} */
  get cursor() {
    if (this._needsSnapshot || !this._hasState || this.epoch === null || this.seq === null) return null;
    return { epoch: this.epoch, seq: this.seq };
  }

  /**
   * Calls `fn(state, session)` at once with the current state (`undefined`
   * before the first join), then after every applied delta, snapshot or
   * replay. This is the Svelte store contract, so a session is a Svelte
   * store; it is bound to its session, so React's
   * `useSyncExternalStore(s.subscribe, () => s.state)` works too.
   * @param {(state: S, session: Session<S, E>) => void} fn
   * @returns {() => void} unsubscribe
   */
  subscribe(fn) {
    const unsubscribe = this._stateListeners.add(fn);
    fn(/** @type {S} */ (this.state), this);
    return unsubscribe;
  }

  /** Calls `fn({kind, data})` for each effect sent to this tab. @param {(effect: Effect) => void} fn @returns {() => void} */
  onEffect(fn) {
    return this._effectListeners.add(fn);
  }

  /** Calls `fn({task, status, error?})` for each task message. @param {(task: TaskMessage) => void} fn @returns {() => void} */
  onTask(fn) {
    return this._taskListeners.add(fn);
  }

  /**
   * Calls `fn(session)` when `leader`, `tabs`, `summary`, `mode` or `error`
   * change, and when the hub's status changes.
   * @param {(session: Session<S, E>) => void} fn @returns {() => void}
   */
  onChange(fn) {
    return this._changeListeners.add(fn);
  }

  /**
   * Submits an event with a fresh id. Resolves `{seq}` after the server
   * handled it (its delta, if any, is already applied to `state`). Made
   * while not joined, it waits and is sent after the (re)join; it rejects
   * with reason `"timeout"` if no reply came within `pushTimeoutMs` of the
   * call. A push sent before a drop is sent again after the rejoin with the
   * same id, so it is handled at most once.
   *
   * With the session's events typed (`Session<S, E>`), the name must be
   * one of `E`'s, the payload its payload type, and `data` is its reply type.
   * @template {EventName<E>} N
   * @param {N} name The app's event name.
   * @param {PayloadArgs<E, N>} args Its payload object, default `{}`.
   * @returns {Promise<PushResult<ReplyOf<E[N]>>>}
   * @throws {TabHubError} (as a rejection) with the server's reason, or
   *   `timeout`, `summary_only`, `left`, `closed`, `disconnected`, `replaced`, `policy`.
   */
  push(name, ...args) {
    const payload = args[0] === undefined ? {} : args[0];
    return this._submit({ id: newEventId(), name, payload }).then((r) =>
      r.data === undefined ? { seq: r.seq } : { seq: r.seq, data: r.data },
    );
  }

  /**
   * Cancels the session's background task `task` (whatever tab started it).
   * Resolves whether it was cancelled (false if it was not running). Queued
   * like `push`; a cancel re-sent after a drop may report false although the
   * first send cancelled the task.
   * @param {string} task
   * @returns {Promise<boolean>}
   */
  cancel(task) {
    return this._enqueue(EV.CANCEL, { task }).then((r) => r.cancelled === true);
  }

  /**
   * Leaves the session: the tab leaves it on the server, pending pushes
   * reject with reason `"left"`, `mode` becomes `"closed"`, and the hub
   * forgets it (`hub.session(key)` then makes a new one).
   * @returns {Promise<void>}
   */
  leave() {
    return this._hub._leave(this);
  }

  // ---- internals ---------------------------------------------------------

  /** @private @param {{id: string, name: string, payload: any, chain?: string}} event */
  _submit(event) {
    return this._enqueue(EV.EVENT, event);
  }

  /** @private @param {string} event @param {any} payload @returns {Promise<any>} */
  _enqueue(event, payload) {
    if (this.mode === "closed") {
      return Promise.reject(new TabHubError("closed", `session ${this.key} is closed`));
    }
    if (this._want === "summary") {
      return Promise.reject(summaryOnly(this.key));
    }
    return new Promise((resolve, reject) => {
      /** @type {PendingPush} */
      const p = { event, payload, resolve, reject, ref: null, joinRef: null, timer: undefined, misses: 0 };
      const ms = this._hub._pushTimeoutMs;
      if (Number.isFinite(ms)) {
        p.timer = setTimeout(() => {
          const what = event === EV.EVENT ? `event ${show(payload.name)} (id ${payload.id})` : `${event} ${show(payload)}`;
          this._settle(p, new TabHubError("timeout", `no reply to ${what} within ${ms} ms; it may still be handled`));
        }, Math.min(ms, MAX_TIMER_MS));
      }
      this._pending.push(p);
      if (this._joined && this.mode === "full") this._hub._sendPush(this, p);
    });
  }

  /** Settles a pending push once: an Error rejects, anything else resolves. @internal @param {PendingPush} p @param {any} outcome */
  _settle(p, outcome) {
    const i = this._pending.indexOf(p);
    if (i < 0) return;
    this._pending.splice(i, 1);
    clearTimeout(p.timer);
    if (p.ref !== null) this._hub._replies.delete(p.ref);
    if (outcome instanceof Error) p.reject(/** @type {TabHubError} */ (outcome));
    else p.resolve(outcome);
  }

  /** @internal @param {TabHubError} error */
  _rejectAll(error) {
    for (const p of [...this._pending]) this._settle(p, error);
  }

  /** @internal @param {Mode} mode */
  _setMode(mode) {
    if (this.mode === mode) return;
    this.mode = mode;
    // Only a full join is a tab of the session (and so can lead it).
    if (mode !== "full") this.leader = false;
    this._changed();
  }

  /** @internal */
  _changed() {
    this._changeListeners.emit(this);
  }

  /** @internal */
  _emitState() {
    this._stateListeners.emit(/** @type {S} */ (this.state), this);
  }

  /**
   * A server message on this topic, already matched to the current join.
   * @internal @param {string} event @param {any} payload @returns {void}
   */
  _onMessage(event, payload) {
    if (event === EV.ERROR) return this._hub._rejoin(this, 0);
    if (event === EV.CLOSE) return this._hub._close(this, new TabHubError("closed", "the server closed this join"));
    if (event === EV.SUMMARY) {
      this.summary = payload.summary ?? null;
      return this._changed();
    }
    if (this.mode !== "full") return; // a summary join gets nothing else
    switch (event) {
      case EV.DELTA:
        return this._onDelta(payload);
      case EV.EFFECT:
        return this._effectListeners.emit({ kind: payload.kind, data: payload.data });
      case EV.TASK:
        return this._taskListeners.emit(payload);
      case EV.CHAIN:
        return void this._onChainMessage(payload);
      case EV.TABS:
        if (this.tabs !== payload.tabs) {
          this.tabs = payload.tabs;
          this._changed();
        }
        return;
      case EV.LEADER:
        if (this.leader !== (payload.leader === true)) {
          this.leader = payload.leader === true;
          this._changed();
        }
        return;
      default:
        return; // events of later protocol versions
    }
  }

  /** Applies a live delta; a gap or a bad patch means a snapshot rejoin. @private @param {Delta} d @returns {void} */
  _onDelta(d) {
    if (this.seq === null || d.seq !== this.seq + 1) {
      this._needsSnapshot = true;
      return this._hub._rejoin(this, 0);
    }
    let next;
    try {
      next = applyPatch(this.state, d.patch);
    } catch {
      this._needsSnapshot = true;
      return this._hub._rejoin(this, 0);
    }
    this.state = next;
    this.seq = d.seq;
    this._emitState();
  }

  /** @private @param {Chain} chain */
  async _onChainMessage(chain) {
    if (this._chains.has(chain.chain)) return; // already on its way
    this._chains.add(chain.chain);
    try {
      let payload = chain.payload;
      if (this._onChain) {
        const added = await this._onChain({ chain: chain.chain, name: chain.name, payload: chain.payload });
        if (added !== undefined) payload = added;
      }
      await this._submit({ id: newEventId(), name: chain.name, payload, chain: chain.chain }).catch(() => {
        // The app's answer to the re-submission (e.g. handler_error) is its
        // own business; a lost one is re-sent by the server.
      });
    } catch (e) {
      if (typeof console !== "undefined") console.error("tabhub: onChain failed; the chain is left to the server", e);
    } finally {
      this._chains.delete(chain.chain);
    }
  }

  /**
   * Brings state up to the join reply `r` (full join sent with `cursor`).
   * @internal @param {any} r @param {Cursor | null} cursor
   * @returns {{state: any, changed: boolean}}
   * @throws {Error} when the reply does not fit what this client holds.
   */
  _catchUp(r, cursor) {
    if (typeof r.epoch !== "string" || !Number.isSafeInteger(r.seq) || r.seq < 0) {
      throw new Error(`bad join reply ${show(r)}`);
    }
    switch (r.resume) {
      case "snapshot":
        if (!hasOwn(r, "state")) throw new Error("snapshot without state");
        return { state: r.state, changed: true };
      case "replay": {
        if (!cursor || cursor.epoch !== r.epoch || !Array.isArray(r.deltas)) {
          throw new Error(`replay that does not continue cursor ${show(cursor)}`);
        }
        let state = this.state;
        let seq = cursor.seq;
        for (const d of r.deltas) {
          if (d.seq !== seq + 1) throw new Error(`replay gap: delta ${d.seq} after ${seq}`);
          state = applyPatch(state, d.patch);
          seq = d.seq;
        }
        if (seq !== r.seq) throw new Error(`replay ends at ${seq}, reply says ${r.seq}`);
        return { state, changed: r.deltas.length > 0 };
      }
      case "current":
        if (!cursor || cursor.epoch !== r.epoch || cursor.seq !== r.seq) {
          throw new Error(`"current" at ${r.epoch}/${r.seq} for cursor ${show(cursor)}`);
        }
        return { state: this.state, changed: false };
      default:
        throw new Error(`unknown resume ${show(r.resume)}`);
    }
  }
}

/** @param {string} key */
function summaryOnly(key) {
  return new TabHubError(
    "summary_only",
    `session ${key} is evicted to a summary join (maxFullJoins); re-open it with hub.session(key) first`,
  );
}

// ---------------------------------------------------------------------------
// TabHub.

/**
 * One page's connection: one WebSocket, any number of sessions. Reconnects
 * by itself (backoff with jitter) after any close but 4001 and 1008, and
 * rejoins every session with its cursor.
 */
export class TabHub {
  /** @param {TabHubOptions} [options] */
  constructor(options = {}) {
    const g = /** @type {any} */ (globalThis);
    /**
     * Socket base URL; `null` where there is no `location` and none was
     * given (server-side rendering): the hub is then inert, and
     * `connect()` looks for `location` again.
     * @type {string|null}
     */
    this.url = options.url ?? defaultUrl();
    /** @private @type {TransportCtor|undefined} */
    this._transport = options.transport ?? g.WebSocket;
    /** @private */
    this._storage = resolveStorage(options.storage);
    /** @private */
    this._tokenKey = options.tokenKey ?? "tabhub:token";
    /** Extra connect params. @type {Record<string, string | number | boolean>} */
    this.params = options.params ?? {};
    const tabId = options.tabId ?? hex(randomBytes(12));
    if (!TAB_ID_RE.test(tabId)) throw new TypeError(`tabhub: bad tabId ${show(tabId)} (1-64 of [A-Za-z0-9_-])`);
    /** This page instance's tab id (page memory only). @type {string} */
    this.tabId = tabId;
    /** The client token: this browser's own session key. @type {string} */
    this.token = this._loadToken();
    /** @type {Status} */
    this.status = "closed";
    /** Close code and reason of the last socket close, if any. @type {{code: number, reason: string} | null} */
    this.lastClose = null;
    /** This tab's visibility as reported to the server. @type {Visibility} */
    this.visibility = options.visibility ?? (g.document?.visibilityState === "hidden" ? "hidden" : "visible");
    /** MRU cap on full joins. */
    this.maxFullJoins = options.maxFullJoins ?? Infinity;
    if (!(this.maxFullJoins >= 1)) throw new TypeError("tabhub: maxFullJoins must be at least 1");

    /** @private */
    this._heartbeatMs = options.heartbeatIntervalMs ?? 30_000;
    /** @private */
    this._reconnectAfterMs = options.reconnectAfterMs ?? defaultReconnectAfterMs;
    /** @internal */
    this._pushTimeoutMs = options.pushTimeoutMs ?? 30_000;
    /** @private */
    this._joinTimeoutMs = options.joinTimeoutMs ?? 10_000;

    /** @private @type {Map<string, Session>} by key */
    this._sessions = new Map();
    /** @private @type {Map<string, Session>} by topic */
    this._topics = new Map();
    /** @private @type {Session[]} sessions wanted full, least recently opened first */
    this._mru = [];
    /** @private @type {WebSocketLike | null} */
    this._socket = null;
    /** @private whether the current socket is open */
    this._open = false;
    /** @private */
    this._ref = 0;
    /** @internal @type {Map<string, (status: string, response: any) => void>} reply handlers by ref */
    this._replies = new Map();
    /** @private connection attempts since the server last answered */
    this._tries = 0;
    /** @private @type {ReturnType<typeof setTimeout> | undefined} */
    this._reconnectTimer = undefined;
    /** @private @type {ReturnType<typeof setInterval> | undefined} */
    this._heartbeatTimer = undefined;
    /** @private @type {string | null} ref of the unanswered heartbeat */
    this._heartbeatRef = null;
    /** @private whether the hub should be connected (connect() called, not stopped since) */
    this._active = false;
    /** @private set by disconnect() and by closes 4001/1008: session() does not auto-connect */
    this._stopped = false;
    /** @private the browser said offline: no reconnect until online/visible */
    this._offline = false;
    /** @private @type {Listeners<[Status]>} */
    this._statusListeners = new Listeners();
    /** @private @type {(() => void) | null} removes the page hooks */
    this._unhook = null;
  }

  /** Calls `fn(status)` on every status change. @param {(status: Status) => void} fn @returns {() => void} */
  onStatus(fn) {
    return this._statusListeners.add(fn);
  }

  /**
   * Opens the socket (idempotent) and keeps it open: reconnects after drops.
   * Also undoes `disconnect()` and a 4001/1008 stop.
   * @throws {TypeError} where there is no URL (no `options.url` and no
   *   `location`) or no WebSocket (no `options.transport`).
   */
  connect() {
    this.url ??= defaultUrl();
    if (this.url === null) throw new TypeError("tabhub: no location here; pass options.url");
    if (typeof this._transport !== "function") {
      throw new TypeError("tabhub: no WebSocket here; pass options.transport (e.g. the `ws` package)");
    }
    this._active = true;
    this._stopped = false;
    this._offline = false;
    this._hookPage();
    if (this._socket || this._reconnectTimer !== undefined) return;
    this._openSocket();
  }

  /**
   * Closes the socket (code 1000) and stops reconnecting until `connect()`.
   * Pending pushes reject with reason `"disconnected"`; sessions stay, and
   * rejoin with their cursors on `connect()`.
   */
  disconnect() {
    this._active = false;
    this._stopped = true;
    this._unhookPage();
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = undefined;
    this._dropSocket(1000, "disconnect()");
    const error = new TabHubError("disconnected", "hub.disconnect() was called");
    for (const s of this._sessions.values()) s._rejectAll(error);
  }

  /**
   * Opens a session (a full join) or re-opens it, and marks it most
   * recently used; with `maxFullJoins` reached, the least recently used
   * full session drops to a summary join. Connects the hub if needed
   * (unless `disconnect()` stopped it). The same key gives the same Session.
   * @template [S=any] The state's type, for your editor.
   * @template {EventMap} [E=AnyEvents] The app's events ({@link EventMap}):
   *   `push` is checked against them.
   * @param {string} [key] Session key (22-128 of `[A-Za-z0-9_-]`), default `hub.token`.
   * @param {SessionOptions} [options] Replace the session's options when given.
   * @returns {Session<S, E>}
   * @throws {TypeError} for a malformed key.
   */
  session(key = this.token, options) {
    if (typeof key !== "string" || !KEY_RE.test(key)) {
      throw new TypeError(`tabhub: bad session key ${show(key)} (22-128 of [A-Za-z0-9_-])`);
    }
    let s = this._sessions.get(key);
    if (!s) {
      s = new Session(this, key, options ?? {});
      this._sessions.set(key, s);
      this._topics.set(s.topic, s);
    } else if (options) {
      if (options.onChain !== undefined) s._onChain = options.onChain;
      if (options.params !== undefined) s._params = options.params;
    }
    this._touch(s);
    if (!this._active && !this._stopped && !this._inert()) this.connect();
    // The types are the caller's word: the wire carries no types.
    return /** @type {Session<S, E>} */ (/** @type {unknown} */ (s));
  }

  /**
   * Whether this hub cannot connect here (no URL and no `location`, or no
   * WebSocket: server-side rendering), so `session()` does not connect.
   * @private
   */
  _inert() {
    return (this.url ?? defaultUrl()) === null || typeof this._transport !== "function";
  }

  /** The sessions this hub holds (full and summary). @returns {Session[]} */
  sessions() {
    return [...this._sessions.values()];
  }

  /**
   * Reports this tab's visibility to every full join (the leader election
   * uses it). Browsers call it on `visibilitychange`; call it yourself
   * elsewhere. Turning visible also reconnects at once if not open.
   * @param {Visibility} visibility
   */
  setVisibility(visibility) {
    if (visibility !== "visible" && visibility !== "hidden") throw new TypeError(`bad visibility ${show(visibility)}`);
    const changed = visibility !== this.visibility;
    this.visibility = visibility;
    if (changed && this._open) {
      for (const s of this._sessions.values()) {
        if (s.mode === "full" && s._joinRef !== null) {
          this._send([s._joinRef, this._nextRef(), s.topic, EV.VISIBILITY, { visibility }]);
        }
      }
    }
    if (visibility === "visible") this._reconnectNow();
  }

  // ---- page hooks ----------------------------------------------------------

  /** @private */
  _hookPage() {
    if (this._unhook) return;
    const g = /** @type {any} */ (globalThis);
    const win = g.window && typeof g.window.addEventListener === "function" ? g.window : null;
    const doc = g.document && typeof g.document.addEventListener === "function" ? g.document : null;
    if (!win && !doc) return;
    const online = () => {
      this._offline = false;
      this._reconnectNow();
    };
    const offline = () => this._goOffline();
    const visibility = () => this.setVisibility(doc?.visibilityState === "hidden" ? "hidden" : "visible");
    // The back/forward cache keeps a page only without an open socket:
    // close it when the page may be cached, reconnect when it is restored.
    const pagehide = (/** @type {any} */ e) => {
      if (e?.persisted) this._goOffline();
    };
    const pageshow = (/** @type {any} */ e) => {
      if (e?.persisted) this._reconnectNow();
    };
    win?.addEventListener("online", online);
    win?.addEventListener("offline", offline);
    win?.addEventListener("pagehide", pagehide);
    win?.addEventListener("pageshow", pageshow);
    doc?.addEventListener("visibilitychange", visibility);
    this._unhook = () => {
      win?.removeEventListener("online", online);
      win?.removeEventListener("offline", offline);
      win?.removeEventListener("pagehide", pagehide);
      win?.removeEventListener("pageshow", pageshow);
      doc?.removeEventListener("visibilitychange", visibility);
      this._unhook = null;
    };
  }

  /** @private */
  _unhookPage() {
    if (this._unhook) this._unhook();
  }

  /** @private */
  _goOffline() {
    if (!this._active) return;
    this._offline = true;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = undefined;
    this._dropSocket(1000, "offline");
    this._setStatus("offline");
  }

  /** Reconnects at once if the hub should be connected and is not. @private */
  _reconnectNow() {
    if (!this._active || this._socket) return;
    this._offline = false;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = undefined;
    this._openSocket();
  }

  // ---- the socket ----------------------------------------------------------

  /** @private */
  _loadToken() {
    try {
      const stored = this._storage.getItem(this._tokenKey);
      if (stored && KEY_RE.test(stored)) return stored;
    } catch {
      // unreadable storage: a fresh token
    }
    const token = hex(randomBytes(16));
    this._storeToken(token);
    return token;
  }

  /** @private @param {string} token */
  _storeToken(token) {
    try {
      this._storage.setItem(this._tokenKey, token);
    } catch {
      // full or refused storage: the token lives in page memory only
    }
  }

  /** @private */
  _socketUrl() {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(this.params)) query.set(k, String(v));
    query.set("vsn", VSN);
    query.set("tab_id", this.tabId);
    return `${(this.url ?? "").replace(/\/+$/, "")}/websocket?${query}`;
  }

  /** @private */
  _openSocket() {
    this._reconnectTimer = undefined;
    this._setStatus("connecting");
    /** @type {WebSocketLike} */
    let ws;
    try {
      // connect() checked it is a constructor.
      const Transport = /** @type {TransportCtor} */ (this._transport);
      ws = new Transport(this._socketUrl());
    } catch (e) {
      reportError(e);
      return this._scheduleReconnect();
    }
    this._socket = ws;
    ws.onopen = () => {
      if (ws !== this._socket) return;
      this._open = true;
      this._setStatus("open");
      this._startHeartbeat();
      // Full joins first, most recently opened first.
      const order = [...this._mru].reverse();
      for (const s of this._sessions.values()) if (!order.includes(s)) order.push(s);
      for (const s of order) this._sendJoin(s);
    };
    ws.onmessage = (ev) => {
      if (ws !== this._socket) return;
      this._tries = 0; // the server talks: the next drop starts the backoff afresh
      this._onFrame(ev.data);
    };
    ws.onclose = (ev) => {
      if (ws !== this._socket) return;
      this._onClosed(ev.code, ev.reason ?? "");
    };
    ws.onerror = () => {
      // a close event follows
    };
  }

  /**
   * Forgets the current socket (closing it if still up) and puts every
   * session back to waiting. Does not schedule anything.
   * @private @param {number} code @param {string} reason
   */
  _dropSocket(code, reason) {
    const ws = this._socket;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      // Keep an error handler: ws (Node) throws an 'error' event nobody
      // listens to, e.g. when closed while still connecting.
      ws.onerror = () => {};
      try {
        ws.close(1000, reason);
      } catch {
        // already closing
      }
    }
    this._socket = null;
    this._open = false;
    this._stopHeartbeat();
    this._replies.clear();
    for (const s of this._sessions.values()) {
      clearTimeout(s._joinTimer);
      s._joinTimer = undefined;
      s._joinRef = null;
      s._joined = false;
      for (const p of s._pending) p.ref = null;
      if (s.mode !== "closed") s._setMode("joining");
    }
    if (ws) this.lastClose = { code, reason };
    if (!this._active) this._setStatus("closed");
  }

  /** The server (or the network) closed the socket. @private @param {number} code @param {string} reason */
  _onClosed(code, reason) {
    this._dropSocket(code, reason);
    if (code === CLOSE_REPLACED || code === CLOSE_POLICY) {
      // Replaced by a newer connection of this tab, or refused by policy:
      // reconnecting would only fight it.
      this._active = false;
      this._stopped = true;
      this._setStatus("closed");
      const error =
        code === CLOSE_REPLACED
          ? new TabHubError("replaced", "a newer connection of this tab took over (close 4001)")
          : new TabHubError("policy", `the server refused this connection (close 1008 ${reason})`);
      for (const s of this._sessions.values()) s._rejectAll(error);
      return;
    }
    if (!this._active) return;
    if (this._offline) return this._setStatus("offline");
    this._scheduleReconnect();
  }

  /** @private */
  _scheduleReconnect() {
    if (!this._active || this._offline) return;
    this._tries += 1;
    const ms = Math.max(0, Math.min(Number(this._reconnectAfterMs(this._tries)) || 0, MAX_TIMER_MS));
    this._setStatus("connecting");
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = setTimeout(() => this._openSocket(), ms);
  }

  /** @private */
  _startHeartbeat() {
    this._stopHeartbeat();
    const ms = this._heartbeatMs;
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    this._heartbeatTimer = setInterval(() => {
      if (this._heartbeatRef !== null) {
        // The last heartbeat went unanswered: the connection is dead.
        this._onClosed(1006, "heartbeat timeout");
        return;
      }
      this._heartbeatRef = this._nextRef();
      this._send([null, this._heartbeatRef, PHOENIX_TOPIC, EV.HEARTBEAT, {}]);
    }, Math.min(ms, MAX_TIMER_MS));
  }

  /** @private */
  _stopHeartbeat() {
    clearInterval(this._heartbeatTimer);
    this._heartbeatTimer = undefined;
    this._heartbeatRef = null;
  }

  /** @private @param {Status} status */
  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this._statusListeners.emit(status);
    for (const s of this._sessions.values()) s._changed();
  }

  /** @private */
  _nextRef() {
    this._ref += 1;
    return String(this._ref);
  }

  /** @private @param {any[]} frame @returns {boolean} whether it was sent */
  _send(frame) {
    const ws = this._socket;
    if (!ws || !this._open) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** @private @param {any} data */
  _onFrame(data) {
    if (typeof data !== "string") return; // the server sends text frames only
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!Array.isArray(frame) || frame.length !== 5) return;
    const [joinRef, ref, topic, event, payload] = frame;
    const body = isObject(payload) ? payload : {};
    if (event === EV.REPLY) {
      if (topic === PHOENIX_TOPIC && ref === this._heartbeatRef) {
        this._heartbeatRef = null;
        return;
      }
      const handler = this._replies.get(ref);
      if (handler) {
        this._replies.delete(ref);
        handler(body.status, isObject(body.response) ? body.response : {});
      }
      return;
    }
    const s = this._topics.get(topic);
    // Messages of a replaced join, or before its reply, are stale.
    if (!s || joinRef !== s._joinRef || !s._joined) return;
    s._onMessage(event, body);
  }

  // ---- joins ---------------------------------------------------------------

  /** Marks `s` most recently used and enforces the MRU cap. @private @param {Session} s */
  _touch(s) {
    const i = this._mru.indexOf(s);
    if (i >= 0) this._mru.splice(i, 1);
    this._mru.push(s);
    while (this._mru.length > this.maxFullJoins) {
      const victim = /** @type {Session} */ (this._mru.shift());
      victim._want = "summary";
      victim._rejectAll(summaryOnly(victim.key));
      victim._joinTries = 0;
      if (this._open) this._sendJoin(victim);
    }
    if (s._want !== "full" || s.mode === "closed") {
      s._want = "full";
      s._joinTries = 0;
      if (this._open) this._sendJoin(s);
    } else if (this._open && s._joinRef === null) {
      this._sendJoin(s);
    }
  }

  /** Sends a join for `s` as it wants to be (full or summary). @private @param {Session} s @returns {void} */
  _sendJoin(s) {
    if (!this._open || s.mode === "closed") return;
    clearTimeout(s._joinTimer);
    if (s._joinRef !== null) this._dropRepliesOf(s);
    /** @type {Record<string, any>} */
    let params;
    try {
      params = typeof s._params === "function" ? s._params() : s._params;
    } catch (e) {
      if (typeof console !== "undefined") console.error("tabhub: the join params function threw; the join is retried", e);
      s.error = new TabHubError("params", `the join params function of session ${s.key} threw: ${e}`);
      s._joinTries += 1;
      s._changed();
      // Never at once: a function that keeps throwing must not spin.
      return this._rejoin(s, Math.max(1, this._reconnectAfterMs(s._joinTries)));
    }
    const ref = this._nextRef();
    const full = s._want === "full";
    const cursor = full ? s.cursor : null;
    const payload = full
      ? { ...params, cursor, visibility: this.visibility }
      : // The summary join replaces the full one on the server: from here
        // on the held state cannot be proven to match the cursor.
        ((s._needsSnapshot = true), { ...params, mode: "summary" });
    s._joinRef = ref;
    s._joined = false;
    for (const p of s._pending) p.ref = null;
    s._setMode("joining");
    this._replies.set(ref, (status, response) => this._onJoinReply(s, ref, full, cursor, status, response));
    this._send([ref, ref, s.topic, EV.JOIN, payload]);
    const ms = this._joinTimeoutMs;
    if (ms > 0 && Number.isFinite(ms)) {
      s._joinTimer = setTimeout(() => {
        if (s._joinRef === ref && !s._joined) this._sendJoin(s);
      }, Math.min(ms, MAX_TIMER_MS));
    }
  }

  /** Forgets reply handlers of pushes sent under `s`'s current join. @private @param {Session} s */
  _dropRepliesOf(s) {
    for (const p of s._pending) if (p.ref !== null) this._replies.delete(p.ref);
  }

  /**
   * Rejoins `s` after `delayMs` with whatever cursor it can prove (none
   * after a gap): used on `phx_error`, gaps and failed joins.
   * @internal @param {Session} s @param {number} delayMs @returns {void}
   */
  _rejoin(s, delayMs) {
    clearTimeout(s._joinTimer);
    if (s._joinRef !== null) this._dropRepliesOf(s);
    s._joinRef = null;
    s._joined = false;
    for (const p of s._pending) p.ref = null;
    if (s.mode !== "closed") s._setMode("joining");
    if (delayMs <= 0) return this._sendJoin(s);
    s._joinTimer = setTimeout(() => this._sendJoin(s), Math.min(delayMs, MAX_TIMER_MS));
  }

  /**
   * @private @param {Session} s @param {string} ref @param {boolean} full
   * @param {Cursor | null} cursor @param {string} status @param {any} r
   */
  _onJoinReply(s, ref, full, cursor, status, r) {
    if (s._joinRef !== ref || s.mode === "closed") return;
    clearTimeout(s._joinTimer);
    s._joinTimer = undefined;
    if (status !== "ok") return this._onJoinError(s, r);
    if (!full) {
      s._joined = true;
      s._joinTries = 0;
      s.error = null;
      s.leader = false;
      s.summary = r.summary ?? null;
      s.mode = "summary";
      return s._changed();
    }
    let next;
    try {
      next = s._catchUp(r, cursor);
    } catch {
      // The reply does not continue what we hold: start over from a snapshot
      // (after a backoff if even a snapshot join went wrong).
      s._needsSnapshot = true;
      s._joinTries += 1;
      return this._rejoin(s, cursor ? 0 : this._reconnectAfterMs(s._joinTries));
    }
    s._joined = true;
    s._joinTries = 0;
    s._needsSnapshot = false;
    s._hasState = true;
    s.state = next.state;
    s.epoch = r.epoch;
    s.seq = r.seq;
    s.leader = r.leader === true;
    if (Number.isInteger(r.tabs)) s.tabs = r.tabs;
    s.error = null;
    s.resume = r.resume;
    s.mode = "full";
    if (next.changed) s._emitState();
    s._changed();
    // Pushes made while away (and those whose reply the drop lost), in order.
    for (const p of [...s._pending]) this._sendPush(s, p);
  }

  /** @private @param {Session} s @param {any} r */
  _onJoinError(s, r) {
    const reason = typeof r.reason === "string" ? r.reason : "error";
    s.error = new TabHubError(reason, r.message || `join of ${s.key} refused: ${reason}`, r);
    if (reason === "new_key" && typeof r.new_key === "string" && KEY_RE.test(r.new_key)) {
      this._rekey(s, r.new_key);
      return this._sendJoin(s);
    }
    if (PERMANENT_JOIN_ERRORS.has(reason)) return this._close(s, s.error);
    s._joinTries += 1;
    s._changed();
    this._rejoin(s, this._reconnectAfterMs(s._joinTries));
  }

  /**
   * Legacy duplicate-tab mode: the server sends this tab to a fresh key,
   * which starts from empty state. If it was the client token, the fresh
   * key becomes the token (and is stored).
   * @private @param {Session} s @param {string} key
   */
  _rekey(s, key) {
    this._sessions.delete(s.key);
    this._topics.delete(s.topic);
    if (s.key === this.token) {
      this.token = key;
      this._storeToken(key);
    }
    s.key = key;
    s.topic = SESSION_PREFIX + key;
    s.state = undefined;
    s.seq = null;
    s.epoch = null;
    s._hasState = false;
    s._needsSnapshot = false;
    this._sessions.set(key, s);
    this._topics.set(s.topic, s);
  }

  /** Ends `s` for good: closed, forgotten, pending pushes rejected. @internal @param {Session} s @param {TabHubError} error */
  _close(s, error) {
    clearTimeout(s._joinTimer);
    if (s._joinRef !== null) this._dropRepliesOf(s);
    s._joinRef = null;
    s._joined = false;
    if (this._sessions.get(s.key) === s) {
      this._sessions.delete(s.key);
      this._topics.delete(s.topic);
    }
    const i = this._mru.indexOf(s);
    if (i >= 0) this._mru.splice(i, 1);
    s.leader = false;
    s._rejectAll(error);
    s._setMode("closed");
  }

  /** @internal @param {Session} s @returns {Promise<void>} */
  _leave(s) {
    if (s.mode === "closed") return Promise.resolve();
    const joinRef = s._joinRef;
    this._close(s, new TabHubError("left", `session ${s.key} was left`));
    if (joinRef === null || !this._open) return Promise.resolve();
    return new Promise((resolve) => {
      const ref = this._nextRef();
      const timer = setTimeout(() => {
        this._replies.delete(ref);
        resolve();
      }, Math.min(this._joinTimeoutMs, MAX_TIMER_MS));
      this._replies.set(ref, () => {
        clearTimeout(timer);
        resolve();
      });
      if (!this._send([joinRef, ref, s.topic, EV.LEAVE, {}])) {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  /** @internal @param {Session} s @param {PendingPush} p */
  _sendPush(s, p) {
    if (!s._joined || s.mode !== "full" || s._joinRef === null) return;
    if (p.ref !== null) this._replies.delete(p.ref);
    const ref = this._nextRef();
    const joinRef = s._joinRef;
    p.ref = ref;
    p.joinRef = joinRef;
    this._replies.set(ref, (status, response) => {
      if (status === "ok") return s._settle(p, response);
      if (response.reason === "unmatched topic" && s._joinRef === joinRef && ++p.misses < 3) {
        // The server dropped this join before we heard of it (phx_error on
        // its way): keep the push for after the rejoin.
        p.ref = null;
        return this._rejoin(s, 0);
      }
      const reason = typeof response.reason === "string" ? response.reason : "error";
      s._settle(p, new TabHubError(reason, response.message || reason, response));
    });
    if (!this._send([joinRef, ref, s.topic, p.event, p.payload])) p.ref = null;
  }
}

/** The socket URL of this page's host, or `null` where there is no `location`. */
function defaultUrl() {
  const loc = /** @type {any} */ (globalThis).location;
  if (!loc || !loc.host) return null;
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/socket`;
}
