// Shared helpers of the tabhub.js tests: the real binary on a free port,
// hubs over npm `ws` with a frame trace, and polling waits.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import WebSocket from "ws";

import { TabHub } from "../../../assets/tabhub.js";

export { WebSocket };

/**
 * Options of every test: a hang (a promise that never settles) fails the
 * test after 30 s instead of stalling the run.
 */
export const T = { timeout: 30_000 };

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh random session key (32 hex chars, 128 bits). */
export const randomKey = () => randomBytes(16).toString("hex");

/** A port nobody listens on right now (listen on 0, then close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The tabhub binary under test: $TABHUB_BIN, which must exist. */
export function tabhubBin() {
  const bin = process.env.TABHUB_BIN;
  if (!bin) {
    throw new Error(
      "TABHUB_BIN is not set: run these tests through `cargo test --test js_client`, " +
        "or set TABHUB_BIN to a built tabhub binary (e.g. target/debug/tabhub)",
    );
  }
  if (!existsSync(bin)) throw new Error(`TABHUB_BIN=${bin} does not exist: build it first (cargo build)`);
  return bin;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Servers still running: killed when this process exits, whatever the way. */
const live = new Set();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/**
 * Starts the real tabhub binary with `args` on `port` (default: a free one)
 * and waits until it accepts TCP connections. Unless `args` choose a store
 * directory, the default (redb) store gets a fresh temporary one (`data`,
 * pass it again to restart on the same data), removed by `stop()` unless
 * `keepData`.
 * @returns {Promise<{port: number, url: string, data: string | null, output: () => string, stop: (signal?: string, options?: {keepData?: boolean}) => Promise<void>}>}
 */
export async function startServer(args = [], { port, data } = {}) {
  const bin = tabhubBin();
  port ??= await freePort();
  const store = args.includes("--store") ? args[args.indexOf("--store") + 1] : "redb";
  if (args.includes("--data") || store !== "redb") data = null;
  else data ??= mkdtempSync(path.join(os.tmpdir(), "tabhub-js-"));
  const dataArgs = data ? ["--data", data] : [];
  const child = spawn(bin, ["--bind", `127.0.0.1:${port}`, ...dataArgs, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
  });
  live.add(child);
  child.on("exit", () => live.delete(child));
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  let exited = null;
  const exit = new Promise((resolve) => child.on("exit", (code, signal) => resolve((exited = { code, signal }))));
  child.on("error", (e) => (out += `\nspawn error: ${e.message}`));
  const deadline = Date.now() + 15_000;
  while (!(await canConnect(port))) {
    if (exited) {
      if (data) rmSync(data, { recursive: true, force: true });
      throw new Error(`tabhub exited early (${JSON.stringify(exited)}):\n${out}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`tabhub did not listen on 127.0.0.1:${port} within 15 s:\n${out}`);
    }
    await sleep(50);
  }
  return {
    port,
    url: `ws://127.0.0.1:${port}/socket`,
    data,
    output: () => out,
    async stop(signal = "SIGKILL", { keepData = false } = {}) {
      if (!exited) child.kill(signal);
      await exit;
      if (data && !keepData) rmSync(data, { recursive: true, force: true });
    },
  };
}

/**
 * A `ws` subclass that records every frame both ways into `trace`
 * (`{dir: "out" | "in", frame}`) and every close (`{dir: "close", code}`),
 * with extra `ws` options (an object, or a function called per socket).
 */
export function tracedTransport(trace, wsOptions = {}) {
  return class TracedWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, typeof wsOptions === "function" ? wsOptions() : wsOptions);
      this.on("message", (data, isBinary) => {
        if (!isBinary) trace.push({ dir: "in", frame: JSON.parse(data.toString()) });
      });
      this.on("close", (code, reason) => trace.push({ dir: "close", code, reason: reason.toString() }));
    }
    send(data, ...rest) {
      trace.push({ dir: "out", frame: JSON.parse(data) });
      return super.send(data, ...rest);
    }
  };
}

/** A `{getItem, setItem}` in memory, so tests can read what the hub stored. */
export function memoryStorage() {
  const items = new Map();
  return {
    items,
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => void items.set(k, String(v)),
  };
}

/**
 * Hubs made through `makeHub`, disconnected by `closeHubs` (call it in
 * `afterEach`) so no socket keeps the test process alive.
 */
const hubs = new Set();

/**
 * A TabHub on `server` over a traced `ws`. `hub.trace` holds its frames.
 * @param {{url: string}} server
 * @param {import("../../../assets/tabhub.js").TabHubOptions & {wsOptions?: object}} options
 */
export function makeHub(server, options = {}) {
  const trace = [];
  const { wsOptions, ...rest } = options;
  const hub = new TabHub({
    url: server.url,
    transport: tracedTransport(trace, wsOptions),
    storage: memoryStorage(),
    ...rest,
  });
  hub.trace = trace;
  hubs.add(hub);
  return hub;
}

export function closeHubs() {
  for (const hub of hubs) hub.disconnect();
  hubs.clear();
}

/** Close codes of the sockets in `trace`, in order. */
export const closeCodes = (trace) => trace.filter((t) => t.dir === "close").map((t) => t.code);

/** Frames in `trace` going `dir` with frame event `event` (and topic, if given). */
export function frames(trace, dir, event, topic) {
  return trace
    .filter((t) => t.dir === dir && t.frame[3] === event && (topic === undefined || t.frame[2] === topic))
    .map((t) => t.frame);
}

/** The join replies in `trace` (ok or error), for `topic`. */
export function joinReplies(trace, topic) {
  const joinRefs = new Set(frames(trace, "out", "phx_join", topic).map((f) => f[1]));
  return frames(trace, "in", "phx_reply", topic).filter((f) => joinRefs.has(f[1]));
}

/**
 * Polls `predicate` every 10 ms until it returns truthy (and returns that),
 * or fails with `what` (a string or a function giving one) after `timeoutMs`.
 */
export async function waitFor(predicate, what, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) {
      assert.fail(`timed out after ${timeoutMs} ms waiting for: ${typeof what === "function" ? what() : what}`);
    }
    await sleep(10);
  }
}

/** Waits until `session` is joined full. */
export function joinedFull(session, timeoutMs = 5_000) {
  return waitFor(
    () => session.mode === "full",
    () => `session ${session.key} full (mode ${session.mode}, error ${session.error?.message})`,
    timeoutMs,
  );
}

/** The demo app's initial state. */
export const INITIAL_STATE = { todos: [], jobs: {}, chain_count: 0 };
