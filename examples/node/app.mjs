// The demo app of the `tabhub` binary (src/demo.rs) as a backend of
// tabhub's app proxy (docs/app-proxy.md), in plain Node.js: node:http and
// fetch, no dependencies. The same behaviour as examples/python/app.py.
//
//   TABHUB_API_URL=http://127.0.0.1:4000/api TABHUB_API_TOKEN=secret \
//     node examples/node/app.mjs --port 8000
//   tabhub --app-url http://127.0.0.1:8000/tabhub --api-token secret
//
// Environment: TABHUB_API_URL, TABHUB_API_TOKEN (the server API, for
// start_job's progress), TABHUB_APP_TOKEN (optional: calls must carry
// `Authorization: Bearer <it>`), TABHUB_EXAMPLE_REQUIRE_COOKIE (optional
// test hook: joins without that cookie are refused).

import { randomUUID, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { Jobs, pointer } from "./jobs.mjs";

const MAX_TODO_CHARS = 100_000;
const MAX_DELAY_MS = 5_000;
const MAX_STEPS = 10_000;
const MAX_STEP_MS = 60_000;
const MAX_SLEEP_MS = 60_000;
const MAX_BODY_BYTES = 16 * 1024 * 1024;

const env = (name) => process.env[name] || undefined;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Refuses an event: answered 200 `{"error": {reason, message, data?}}`. */
class EventError extends Error {
  constructor(reason, message, data) {
    super(message);
    this.reason = reason;
    this.data = data;
  }
  answer() {
    const error = { reason: this.reason, message: this.message };
    if (this.data !== undefined) error.data = this.data;
    return { error };
  }
}
const invalidPayload = (message) => new EventError("invalid_payload", message);
const handlerError = (message) => new EventError("handler_error", message);

/** The demo's summary (docs/protocol.md section 5.8). */
export function summary(state) {
  const todos = state.todos ?? [];
  const jobs = Object.values(state.jobs ?? {});
  return {
    todos: todos.length,
    open: todos.filter((t) => !t.done).length,
    jobs_running: jobs.filter((j) => j.status === "running").length,
  };
}

// Payload checks: the demo decodes strings and Rust u32/u64 integers.
const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isUint = (v, max) => Number.isSafeInteger(v) && v >= 0 && v <= max;
const U32 = 2 ** 32 - 1;
const U64 = Number.MAX_SAFE_INTEGER;
/** Checks `payload` has `fields` ({name: "string" | max integer}). */
function fields(name, payload, spec) {
  if (!isObject(payload)) throw invalidPayload(`invalid payload for ${name}: not an object`);
  for (const [field, kind] of Object.entries(spec)) {
    const v = payload[field];
    const ok = kind === "string" ? typeof v === "string" : isUint(v, kind);
    if (!ok) throw invalidPayload(`invalid payload for ${name}: ${field} must be ${kind === "string" ? "a string" : `an integer in 0..=${kind}`}`);
  }
  return payload;
}

/** One event being handled: what its answer carries. */
class Event {
  constructor(call) {
    this.key = call.key;
    // Absent with --app-no-state.
    this.state = "state" in call ? call.state : undefined;
    if (this.state !== undefined && !isObject(this.state)) {
      throw handlerError("the session's state is not an object");
    }
    this.patch = [];
    this.answer = {};
    this.after = [];
  }
  needState() {
    if (this.state === undefined) throw handlerError("this backend needs the state");
    return this.state;
  }
}

function todoIndex(state, id) {
  const i = (state.todos ?? []).findIndex((t) => t.id === id);
  if (i < 0) throw handlerError(`no todo with id ${JSON.stringify(id)}`);
  return i;
}

function addTodo(ev, text) {
  // \s is close to Rust's str::trim (Unicode White_Space).
  if (text.replace(/^\s+|\s+$/gu, "") === "") throw invalidPayload("text must not be empty");
  if ([...text].length > MAX_TODO_CHARS) {
    throw new EventError("too_long", `a todo has at most ${MAX_TODO_CHARS} characters`, { max: MAX_TODO_CHARS });
  }
  const id = randomUUID();
  ev.patch.push({ op: "add", path: pointer("todos", "-"), value: { id, text, done: false } });
  return id;
}

const jobs = new Jobs(env("TABHUB_API_URL"), env("TABHUB_API_TOKEN"), summary);

/** Event name -> handler(ev, payload). */
const EVENTS = {
  add_todo(ev, p) {
    addTodo(ev, fields("add_todo", p, { text: "string" }).text);
  },
  async add_todo_after(ev, p) {
    fields("add_todo_after", p, { text: "string", delay_ms: U64 });
    if (p.delay_ms > MAX_DELAY_MS) throw invalidPayload(`delay_ms must be at most ${MAX_DELAY_MS}`);
    await sleep(p.delay_ms);
    ev.answer.reply = { id: addTodo(ev, p.text) };
  },
  toggle_todo(ev, p) {
    fields("toggle_todo", p, { id: "string" });
    const state = ev.needState();
    const i = todoIndex(state, p.id);
    ev.patch.push({ op: "replace", path: pointer("todos", i, "done"), value: !state.todos[i].done });
  },
  remove_todo(ev, p) {
    fields("remove_todo", p, { id: "string" });
    ev.patch.push({ op: "remove", path: pointer("todos", todoIndex(ev.needState(), p.id)) });
  },
  toast(ev, p) {
    fields("toast", p, { text: "string" });
    ev.answer.effects = [{ kind: "toast", data: { text: p.text }, to: "origin" }];
  },
  start_job(ev, p) {
    fields("start_job", p, { key: "string", steps: U32, step_ms: U64 });
    if (!p.key || p.steps < 1 || p.steps > MAX_STEPS || p.step_ms > MAX_STEP_MS) {
      throw invalidPayload(`need a non-empty key, 1..=${MAX_STEPS} steps and at most ${MAX_STEP_MS} step_ms`);
    }
    if (!jobs.enabled) throw handlerError("this backend has no server API (set TABHUB_API_URL)");
    if (jobs.running(ev.key, p.key)) throw handlerError(`task ${JSON.stringify(p.key)} is already running`);
    ev.patch.push({ op: "add", path: pointer("jobs", p.key), value: { progress: 0, steps: p.steps, status: "running" } });
    ev.answer.tasks = { start: [p.key] };
    ev.after.push(jobs.start(ev.key, p.key, p.steps, p.step_ms));
  },
  chain_demo(ev, p) {
    fields("chain_demo", p, { n: U32 });
    if (p.n < 1) throw invalidPayload("n must be at least 1");
    ev.answer.chains = [{ name: "chain_step", payload: { n: p.n } }];
  },
  chain_step(ev, p) {
    fields("chain_step", p, { n: U32 });
    const state = ev.needState();
    ev.patch.push({ op: "replace", path: "/chain_count", value: (state.chain_count ?? 0) + 1 });
    if (p.n > 1) ev.answer.chains = [{ name: "chain_step", payload: { n: p.n - 1 } }];
  },
  async sleep(ev, p) {
    fields("sleep", p, { ms: U64 });
    const ms = Math.min(p.ms, MAX_SLEEP_MS);
    await sleep(ms);
    ev.answer.reply = { slept: ms };
  },
};

/** `POST /tabhub/event`: the answer, and what to run once it is sent. */
async function onEvent(call) {
  const name = call.event?.name;
  const handle = Object.hasOwn(EVENTS, name) ? EVENTS[name] : undefined;
  if (!handle) return [new EventError("unknown_event", `the app has no event ${JSON.stringify(name)}`).answer(), []];
  try {
    const ev = new Event(call);
    await handle(ev, call.event.payload ?? null);
    if (ev.patch.length) ev.answer.patch = ev.patch;
    if (ev.state !== undefined) ev.answer.summary = summary(applied(ev.state, ev.patch));
    return [ev.answer, ev.after];
  } catch (e) {
    if (e instanceof EventError) return [e.answer(), []];
    throw e;
  }
}

/** `state` after the demo's own patches (add, replace, remove). */
function applied(state, patch) {
  const copy = structuredClone(state);
  for (const op of patch) {
    const parts = op.path.split("/").slice(1).map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = parts.pop();
    const target = parts.reduce((t, s) => t[s], copy);
    if (Array.isArray(target)) {
      if (op.op === "add") target.splice(last === "-" ? target.length : Number(last), 0, op.value);
      else if (op.op === "replace") target[Number(last)] = op.value;
      else target.splice(Number(last), 1);
    } else if (op.op === "remove") delete target[last];
    else target[last] = op.value;
  }
  return copy;
}

function onJoin(call) {
  if (call.connect_params?.blocked === "yes") return { allow: false, message: "blocked (connect param blocked=yes)" };
  const cookie = env("TABHUB_EXAMPLE_REQUIRE_COOKIE");
  if (cookie) {
    const names = (call.headers?.cookie ?? "").split(";").filter((p) => p.includes("=")).map((p) => p.split("=")[0].trim());
    if (!names.includes(cookie)) return { allow: false, message: `missing cookie ${cookie}` };
  }
  return { allow: true };
}

function onCancel(call) {
  jobs.cancel(call.key, call.task);
  const state = isObject(call.state) ? call.state : undefined;
  const answer = {};
  const patch = [];
  if (isObject(state?.jobs?.[call.task])) {
    patch.push({ op: "replace", path: pointer("jobs", call.task, "status"), value: "cancelled" });
    answer.patch = patch;
  }
  if (state) answer.summary = summary(applied(state, patch));
  return answer;
}

// With tabhub's --app-presence: who has the session open, the whole list
// each time (a list saved before a restart is put right by the first join).
function onPresence(call) {
  const here = (call.tabs ?? []).map((t) => ({ tab: t.tab_id, visible: t.visible }));
  if (here.length) return { patch: [{ op: "add", path: "/here", value: here }] };
  return isObject(call.state) && "here" in call.state ? { patch: [{ op: "remove", path: "/here" }] } : {};
}

const ROUTES = {
  "/tabhub/initial_state": async () => [{ state: { todos: [], jobs: {}, chain_count: 0 } }, []],
  "/tabhub/join": async (call) => [onJoin(call), []],
  "/tabhub/event": onEvent,
  "/tabhub/cancel": async (call) => [onCancel(call), []],
  "/tabhub/presence": async (call) => [onPresence(call), []],
};

function authorized(req) {
  const token = env("TABHUB_APP_TOKEN");
  if (!token) return true;
  const given = Buffer.from(req.headers.authorization ?? "");
  const want = Buffer.from(`Bearer ${token}`);
  return given.length === want.length && timingSafeEqual(given, want);
}

function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error("body too large");
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

export const server = createServer(async (req, res) => {
  try {
    if (req.method === "GET" && req.url === "/healthz") return send(res, 200, { ok: true });
    const route = req.method === "POST" ? ROUTES[req.url] : undefined;
    if (!route) return send(res, 404, { reason: "not_found", message: "no such route" });
    if (!authorized(req)) return send(res, 401, { reason: "unauthorized", message: "missing or wrong bearer token" });
    const call = await readJson(req);
    if (!isObject(call) || typeof call.key !== "string") return send(res, 422, { reason: "invalid_call", message: "expected a JSON object with a key" });
    const [answer, after] = await route(call);
    send(res, 200, answer);
    // The answer is sent: a started job may push now.
    for (const then of after) then();
  } catch (e) {
    console.error(`call ${req.url} failed:`, e);
    if (!res.headersSent) send(res, 500, { reason: "internal", message: "the backend failed" });
  }
});

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string", default: "8000" } } });
  server.listen(Number(values.port), values.host);
  const stop = async () => {
    await jobs.close();
    server.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
