// The one scenario every framework example must pass (tests/frameworks/):
// the example (examples/<name>/) bundled by examples/frontend.mjs against
// the staged npm package, served from its own origin by a small static
// server, the real tabhub binary allowing that origin (`--allowed-origin`),
// and two Chromium pages of one browser sharing the session (the example
// keeps the client token in localStorage).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { buildExample, serveExample } from "../../examples/frontend.mjs";
import { TOKEN_KEY, todoTexts, waitFor, waitForTestId, withServer } from "../browser/harness.mjs";

/**
 * Opens the example at `url` in a new page of `context`; `errors` collects
 * the page's uncaught errors and console errors.
 * @param {import("playwright-core").BrowserContext} context
 * @param {string} url
 */
async function openExample(context, url) {
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`${msg.text()} (${msg.location().url})`);
  });
  await page.goto(url);
  return { page, errors };
}

/** Whether the checkbox of todo `text` is checked on `page`. */
function isDone(page, text) {
  return page
    .locator('[data-testid="todo-item"]', { hasText: text })
    .locator('[data-testid="todo-done"]')
    .isChecked({ timeout: 1000 });
}

/**
 * Two pages of one browser on example `name`: a todo added on one shows on
 * the other, a toggle on the other shows on the first, the connection
 * status shows open, offline and open again, and a push after the
 * reconnect still reaches the other page. With `tabs`, the page's tab
 * count (the session's `tabs`) must read 2.
 * @param {"react" | "vue" | "svelte"} name
 * @param {{tabs?: boolean}} [opts]
 */
export async function twoPagesShareOneSession(name, { tabs = false } = {}) {
  const out = mkdtempSync(path.join(tmpdir(), `tabhub-example-${name}-`));
  try {
    await buildExample(name, out);
    const site = await serveExample(out);
    try {
      await withServer(["--allowed-origin", site.url], async ({ server, browser }) => {
        const context = await browser.newContext();
        const url = `${site.url}/?socket=${server.url.replace(/^http/, "ws")}/socket`;
        const a = await openExample(context, url);
        const b = await openExample(context, url);
        for (const { page } of [a, b]) await waitForTestId(page, "status", "open");
        const token = (p) => p.evaluate((key) => localStorage.getItem(key), TOKEN_KEY);
        const [tokenA, tokenB] = [await token(a.page), await token(b.page)];
        assert.ok(tokenA, "page A keeps its token in localStorage");
        assert.equal(tokenB, tokenA, "both pages hold one token: one session");
        if (tabs) for (const { page } of [a, b]) await waitForTestId(page, "tabs", "2");

        // A push from A renders in B, and one from B in A.
        await a.page.fill('[data-testid="todo-input"]', "Written in A");
        await a.page.click('[data-testid="todo-add"]');
        await waitFor(async () => (await todoTexts(b.page)).includes("Written in A"), `B to show A's todo`);
        await waitFor(async () => (await a.page.inputValue('[data-testid="todo-input"]')) === "", "A's form to clear after the reply");
        assert.equal(await isDone(b.page, "Written in A"), false);
        await b.page.locator('[data-testid="todo-item"]', { hasText: "Written in A" }).locator('[data-testid="todo-done"]').click();
        await waitFor(() => isDone(a.page, "Written in A"), "A to show the todo B ticked as done");

        // A refused push: the page shows the server's reason.
        await a.page.fill('[data-testid="todo-input"]', "");
        await a.page.click('[data-testid="todo-add"]');
        await waitForTestId(a.page, "error", "invalid_payload");
        assert.deepEqual([...a.errors, ...b.errors], [], "no page or console errors while online");

        // Status changes show: offline, then open again, and pushes flow.
        await context.setOffline(true);
        for (const { page } of [a, b]) await waitForTestId(page, "status", "offline");
        await context.setOffline(false);
        for (const { page } of [a, b]) await waitForTestId(page, "status", "open");
        await b.page.fill('[data-testid="todo-input"]', "After the reconnect");
        await b.page.click('[data-testid="todo-add"]');
        await waitFor(async () => (await todoTexts(a.page)).includes("After the reconnect"), `A to show B's todo after the reconnect`);
        assert.deepEqual(await todoTexts(a.page), ["Written in A", "After the reconnect"]);
        assert.deepEqual(await todoTexts(b.page), ["Written in A", "After the reconnect"]);
        const pageErrors = [...a.errors, ...b.errors].filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED/.test(e));
        assert.deepEqual(pageErrors, [], "no page errors but the browser's own socket errors while offline");
        await context.close();
      });
    } finally {
      await site.close();
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
