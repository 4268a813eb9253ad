// Shared helpers for the real-browser tests (node --test tests/browser/):
// the real tabhub binary on a free port, Debian's Chromium through
// playwright-core, pages of the demo, waits on conditions, and a view of the
// WebSocket frames each page exchanges.
//
// TABHUB_BIN must name the tabhub binary (tests/browser.rs sets it):
//
//   TABHUB_BIN=target/debug/tabhub node --test tests/browser/
//
// With TABHUB_BACKEND=python, every server is the app proxy
// (`--app-url`) in front of the example's Python backend
// (examples/python/, from the venv `bash examples/python/venv.sh` makes),
// started beside it: the same scenarios, with the app in another process.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "../js/node_modules/playwright-core/index.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CHROMIUM = "/usr/bin/chromium";
export const TOKEN_KEY = "tabhub:token";
/** How long any single wait may take before the test fails. */
export const WAIT_MS = 15_000;
/** Where the screenshots go. */
export const SCREENSHOT_DIR = path.join(ROOT, "target/browser-screenshots");

const SERVER_START_MS = 10_000;

/** The tabhub binary to test: $TABHUB_BIN, which must exist. */
export function tabhubBin() {
  const bin = process.env.TABHUB_BIN;
  if (!bin) {
    throw new Error(
      "TABHUB_BIN is not set: run these tests through `cargo test --test browser`, " +
        "or `cargo build && TABHUB_BIN=target/debug/tabhub node --test tests/browser/`",
    );
  }
  const resolved = path.resolve(ROOT, bin);
  if (!existsSync(resolved)) throw new Error(`TABHUB_BIN=${bin}: no such file (${resolved})`);
  return resolved;
}

/** A loopback port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Servers still running: killed if this test file exits early. */
const live = new Set();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** The API token a tabhub and its Python backend share in these tests. */
export const API_TOKEN = "browser-tests-api-token";

/**
 * Starts the example's Python backend on a free port, calling tabhub's
 * server API at `apiUrl`, and waits until it answers /healthz.
 * @param {string} apiUrl
 */
async function startPythonBackend(apiUrl) {
  const venv = process.env.TABHUB_PY_VENV ?? path.join(ROOT, "target/python-venv");
  const python = path.join(venv, "bin/python");
  if (!existsSync(python)) {
    throw new Error(`${python} is missing: run \`bash examples/python/venv.sh\``);
  }
  const port = await freePort();
  const child = spawn(python, ["app.py", "--host", "127.0.0.1", "--port", String(port)], {
    cwd: path.join(ROOT, "examples/python"),
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TABHUB_API_URL: apiUrl, TABHUB_API_TOKEN: API_TOKEN },
  });
  live.add(child);
  child.on("exit", () => live.delete(child));
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + SERVER_START_MS;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the Python backend did not start on ${url}\n${out}`);
    }
    await sleep(50);
  }
  return { url: `${url}/tabhub`, output: () => out, stop: () => child.kill("SIGKILL") };
}

/**
 * Starts the real binary on a free port with extra `args` and waits until
 * /healthz answers (with TABHUB_BACKEND=python, in front of a Python
 * backend of its own). `stop()` kills it; `output()` is what it printed.
 * @param {string[]} [args]
 */
export async function startServer(args = []) {
  const bin = tabhubBin();
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  /** @type {Awaited<ReturnType<typeof startPythonBackend>> | null} */
  let backend = null;
  if (process.env.TABHUB_BACKEND === "python") {
    backend = await startPythonBackend(`http://${addr}/api`);
    args = ["--app-url", backend.url, "--api-token", API_TOKEN, ...args];
  }
  // Its own working directory, so whatever it keeps on disk (a store's
  // default data directory) is fresh and thrown away afterwards.
  const cwd = mkdtempSync(path.join(tmpdir(), "tabhub-browser-"));
  const child = spawn(bin, ["--bind", addr, ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
  });
  live.add(child);
  child.on("exit", () => live.delete(child));
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  /** @type {Promise<number | null>} */
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  let exitCode;
  exited.then((c) => (exitCode = c));

  const url = `http://${addr}`;
  const deadline = Date.now() + SERVER_START_MS;
  for (;;) {
    if (exitCode !== undefined) {
      rmSync(cwd, { recursive: true, force: true });
      backend?.stop();
      throw new Error(`tabhub exited early (${exitCode})\n${out}`);
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      backend?.stop();
      rmSync(cwd, { recursive: true, force: true });
      throw new Error(`tabhub did not answer ${url}/healthz within ${SERVER_START_MS} ms\n${out}`);
    }
    await sleep(50);
  }
  if (backend && !out.includes("serving the app behind --app-url")) {
    child.kill("SIGKILL");
    backend.stop();
    throw new Error(`tabhub did not start as the app proxy\n${out}`);
  }
  return {
    url,
    port,
    // eslint-disable-next-line no-control-regex
    output: () => out.replace(/\x1b\[[0-9;]*m/g, "") + (backend ? `\n--- Python backend ---\n${backend.output()}` : ""),
    async stop() {
      if (exitCode === undefined) {
        child.kill("SIGKILL");
        await exited;
      }
      backend?.stop();
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless, through playwright-core. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: CI installs it with \`apt-get install chromium\``);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Starts a server and a browser, runs `fn({server, browser})`, and always
 * closes both. On failure the server's output is appended to the error.
 * @param {string[]} args server flags
 * @param {(env: {server: Awaited<ReturnType<typeof startServer>>, browser: import("playwright-core").Browser}) => Promise<void>} fn
 */
export async function withServer(args, fn) {
  const server = await startServer(args);
  let browser;
  try {
    browser = await launchBrowser();
    await fn({ server, browser });
  } catch (err) {
    if (err instanceof Error) err.message += `\n--- tabhub output ---\n${server.output().slice(-6000)}`;
    throw err;
  } finally {
    await browser?.close().catch(() => {});
    await server.stop();
  }
}

/**
 * The frames a page exchanges on its tabhub sockets, parsed: `joins` are the
 * ok join replies on session topics (`resume`, `seq`, `leader`, ...),
 * `sent` every client frame, `sockets` every socket opened.
 * @param {import("playwright-core").Page} page
 */
export function watchFrames(page) {
  const log = {
    /** @type {any[]} */ joins: [],
    /** @type {any[]} */ sent: [],
    /** @type {any[]} */ received: [],
    /** @type {string[]} */ sockets: [],
    /** @type {string[]} */ closed: [],
  };
  page.on("websocket", (ws) => {
    if (!ws.url().includes("/socket/websocket")) return;
    log.sockets.push(ws.url());
    ws.on("close", () => log.closed.push(ws.url()));
    ws.on("framesent", ({ payload }) => {
      const frame = parse(payload);
      if (frame) log.sent.push(frame);
    });
    ws.on("framereceived", ({ payload }) => {
      const frame = parse(payload);
      if (!frame) return;
      log.received.push(frame);
      const [joinRef, ref, topic, event, body] = frame;
      if (event === "phx_reply" && joinRef !== null && joinRef === ref && topic.startsWith("session:")) {
        if (body?.status === "ok" && body.response?.resume) log.joins.push(body.response);
      }
    });
  });
  return log;
}

function parse(payload) {
  if (typeof payload !== "string") return null;
  try {
    const frame = JSON.parse(payload);
    return Array.isArray(frame) && frame.length === 5 ? frame : null;
  } catch {
    return null;
  }
}

/**
 * Opens the demo in a new page of `context`. `storage` entries are put in
 * the page's sessionStorage before any script runs, as a duplicated tab
 * inherits them (only where absent, so a reload keeps what the page has).
 * With `hidden`, the page is hidden from its first script on (see
 * `setHidden`).
 * @param {import("playwright-core").BrowserContext} context
 * @param {string} url
 * @param {{storage?: Record<string, string>, hidden?: boolean}} [opts]
 */
export async function openDemo(context, url, { storage, hidden = false } = {}) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`${msg.text()} (${msg.location().url})`);
  });
  if (storage) {
    await page.addInitScript((entries) => {
      for (const [k, v] of Object.entries(entries)) {
        if (sessionStorage.getItem(k) === null) sessionStorage.setItem(k, v);
      }
    }, storage);
  }
  if (hidden) {
    await page.addInitScript(() => {
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
      Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    });
  }
  const frames = watchFrames(page);
  await page.goto(url);
  await waitOpen(page);
  return { page, frames, errors };
}

/**
 * Waits until the page's status bar shows connection state `state`
 * (`hub.status`: "connecting" | "open" | "offline" | "closed").
 */
export async function waitStatus(page, state, timeout = WAIT_MS) {
  const status = page.locator('[data-testid="status"]');
  let last = null;
  await waitFor(
    async () => (last = await status.getAttribute("data-state", { timeout: 1000 })) === state,
    () => `the connection state to be ${JSON.stringify(state)} on ${page.url()}: it is ${JSON.stringify(last)}`,
    timeout,
  );
}

/** Waits until the page's connection is open and its session joined. */
export async function waitOpen(page, timeout = WAIT_MS) {
  await waitStatus(page, "open", timeout);
  await waitFor(
    () => page.evaluate(() => window.tabhubDemo?.session?.mode === "full"),
    `the session to be joined (mode "full")`,
    timeout,
  );
}

/** The page's sessionStorage, as a plain object. */
export function sessionStorageOf(page) {
  return page.evaluate(() => Object.fromEntries(Object.entries(sessionStorage)));
}

/** The page's client token (sessionStorage "tabhub:token"). */
export function tokenOf(page) {
  return page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY);
}

/** The session's state as the page's client holds it (a JSON copy). */
export function stateOf(page) {
  return page.evaluate(() => JSON.parse(JSON.stringify(window.tabhubDemo.session.state)));
}

/** The text of the element with `data-testid`. */
export function textOf(page, testId) {
  return page.locator(`[data-testid="${testId}"]`).first().textContent();
}

/** The texts of the page's todos, in order. */
export function todoTexts(page) {
  return page.locator('[data-testid="todo-item"] [data-testid="todo-text"]').allTextContents();
}

/**
 * Polls `fn` until it returns a truthy value (which it returns), or fails
 * after `timeout` ms with `what` (a string, or a function of the last value
 * seen) in the message.
 * @template T
 * @param {() => T | Promise<T>} fn
 * @param {string | ((last: T | undefined) => string)} what
 */
export async function waitFor(fn, what, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const desc = typeof what === "function" ? what(last) : `${what} (last value: ${JSON.stringify(last)})`;
      throw new Error(`timed out after ${timeout} ms waiting for ${desc}${lastErr ? ` (last error: ${lastErr})` : ""}`);
    }
    await sleep(50);
  }
}

/**
 * Waits until the element with `data-testid` reads exactly `expected`
 * (trimmed), or `expected(text)` is true for a function.
 * @param {import("playwright-core").Page} page
 * @param {string} testId
 * @param {string | ((text: string) => boolean)} expected
 */
export async function waitForTestId(page, testId, expected, timeout = WAIT_MS) {
  const test = typeof expected === "function" ? expected : (t) => t === expected;
  const want = typeof expected === "function" ? `to satisfy ${expected}` : `to read ${JSON.stringify(expected)}`;
  let text = null;
  await waitFor(
    async () => {
      text = (await page.locator(`[data-testid="${testId}"]`).first().textContent({ timeout: 1000 }))?.trim() ?? null;
      return text !== null && test(text);
    },
    () => `[data-testid="${testId}"] ${want} on ${page.url()}: it reads ${JSON.stringify(text)}`,
    timeout,
  );
}

/** Whether the page's leader badge says leader. */
export async function isLeader(page) {
  return (await page.locator('[data-testid="leader"]').getAttribute("data-leader")) === "true";
}

/**
 * Makes the page report itself hidden (or visible) the way a browser does
 * when its tab goes to the background: headless Chromium keeps every page
 * "visible", so this overrides document.visibilityState / document.hidden
 * and fires visibilitychange, which the client turns into a `visibility`
 * push.
 */
export function setHidden(page, hidden) {
  return page.evaluate((hidden) => {
    const state = hidden ? "hidden" : "visible";
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);
}

/** Adds a todo through the page's form and waits until it is listed there. */
export async function addTodo(page, text) {
  await page.fill('[data-testid="todo-input"]', text);
  await page.click('[data-testid="todo-add"]');
  await waitFor(async () => (await todoTexts(page)).includes(text), `todo ${JSON.stringify(text)} on ${page.url()}`);
  // Its delta comes before its reply, in a frame of its own: until the
  // reply is read the push is still held (listed pending too), and a drop
  // then would send it again after the rejoin.
  await waitFor(
    async () => !(await page.locator('[data-testid="todo-pending"] [data-testid="todo-pending-text"]').allTextContents()).includes(text),
    `the reply to todo ${JSON.stringify(text)} on ${page.url()}`,
  );
}

export function ensureScreenshotDir() {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return SCREENSHOT_DIR;
}

/** Width and height of a PNG, from its IHDR chunk. */
export function pngSize(png) {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/**
 * Composes PNG screenshots side by side into one PNG, a caption over each,
 * by laying them out in a Chromium page (scaled by `scale`) and taking a
 * screenshot of that: returns the PNG buffer.
 * @param {import("playwright-core").Browser} browser
 * @param {{png: Buffer, caption: string}[]} shots
 */
export async function sideBySide(browser, shots, { scale = 1, gap = 20, pad = 20 } = {}) {
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  try {
    const figures = shots.map((s) => {
      const { width } = pngSize(s.png);
      return `<figure style="margin:0">
          <figcaption style="margin:0 0 8px 2px">${s.caption}</figcaption>
          <img style="display:block;width:${Math.round(width * scale)}px;border-radius:8px;
            box-shadow:0 1px 3px rgba(16,24,40,.12),0 6px 20px rgba(16,24,40,.10)"
            src="data:image/png;base64,${s.png.toString("base64")}">
        </figure>`;
    });
    await page.setContent(`<!doctype html><html><body style="margin:0;background:#e4e8ee">
      <div id="row" style="display:inline-flex;gap:${gap}px;padding:${pad}px;align-items:flex-start;
        font:600 13px system-ui,sans-serif;color:#3b4350">${figures.join("")}</div></body></html>`);
    await page.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
    return await page.locator("#row").screenshot();
  } finally {
    await page.close();
  }
}

/** A screenshot of the page's viewport, with no hover effect or animation. */
export async function screenshotOf(page) {
  await page.mouse.move(0, 0); // no hover effect left from the last click
  return page.screenshot({ animations: "disabled" });
}

/**
 * Composes `shots` side by side with captions and writes
 * target/browser-screenshots/<name>.png: returns the PNG and its path.
 * @param {import("playwright-core").Browser} browser
 * @param {string} name
 * @param {{png: Buffer, caption: string}[]} shots
 * @param {{scale?: number}} [opts]
 */
export async function saveComposite(browser, name, shots, opts = {}) {
  const png = await sideBySide(browser, shots, opts);
  const file = path.join(ensureScreenshotDir(), `${name}.png`);
  writeFileSync(file, png);
  return { png, file };
}

/**
 * Screenshots `pages` and saves them side by side (see `saveComposite`).
 * @param {import("playwright-core").Browser} browser
 * @param {string} name
 * @param {{page: import("playwright-core").Page, caption: string}[]} pages
 * @param {{scale?: number}} [opts]
 */
export async function saveSideBySide(browser, name, pages, opts = {}) {
  const shots = [];
  for (const { page, caption } of pages) shots.push({ png: await screenshotOf(page), caption });
  return saveComposite(browser, name, shots, opts);
}

/**
 * The app events a page sent (`event` pushes named `name`, or all of them),
 * from the frames `watchFrames` saw: each `{id, name, payload}`.
 * @param {ReturnType<typeof watchFrames>} frames
 * @param {string} [name]
 */
export function eventsSent(frames, name) {
  return frames.sent
    .filter(([, , topic, event, body]) => topic.startsWith("session:") && event === "event" && (!name || body?.name === name))
    .map((frame) => frame[4]);
}
