// Real Chromium pages of the demo sharing one session: two pages with the
// same token, a duplicated tab, toasts for the asking tab only.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  TOKEN_KEY,
  addTodo,
  isLeader,
  openDemo,
  saveSideBySide,
  sessionStorageOf,
  stateOf,
  textOf,
  todoTexts,
  tokenOf,
  waitFor,
  waitForTestId,
  withServer,
} from "./harness.mjs";

test("two pages with the same token share the todo list", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);
    const token = await tokenOf(a.page);
    assert.match(token, /^[A-Za-z0-9_-]{22,128}$/, "the client created a valid token");

    const b = await openDemo(context, server.url, { storage: { [TOKEN_KEY]: token } });
    assert.equal(await tokenOf(b.page), token, "page B uses page A's token");
    await waitForTestId(a.page, "tabs", "2");
    await waitForTestId(b.page, "tabs", "2");

    // Added in A: shows in B.
    await addTodo(a.page, "Buy milk");
    await waitFor(async () => (await todoTexts(b.page)).includes("Buy milk"), "B to list A's todo");

    // Added in B, toggled in A, removed in B: every step shows in both.
    await addTodo(b.page, "Water the plants");
    await waitFor(
      async () => JSON.stringify(await todoTexts(a.page)) === JSON.stringify(["Buy milk", "Water the plants"]),
      "A to list both todos in order",
    );
    await a.page.locator('[data-testid="todo-item"]', { hasText: "Buy milk" }).locator('[data-testid="todo-toggle"]').click();
    await waitFor(
      async () =>
        (await b.page.locator('[data-testid="todo-item"]', { hasText: "Buy milk" }).getAttribute("data-done")) === "true",
      "B to show the todo done",
    );
    await b.page.locator('[data-testid="todo-item"]', { hasText: "Water the plants" }).locator('[data-testid="todo-remove"]').click();
    await waitFor(async () => (await todoTexts(a.page)).length === 1, "A to drop the removed todo");

    // Same seq (add, add, toggle, remove), same state, same epoch.
    await waitForTestId(a.page, "seq", "4");
    await waitForTestId(b.page, "seq", "4");
    assert.equal(await textOf(a.page, "epoch"), await textOf(b.page, "epoch"));
    assert.deepEqual(await stateOf(a.page), await stateOf(b.page));
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
    await saveSideBySide(browser, "same-token", [
      { page: a.page, caption: "Page A" },
      { page: b.page, caption: "Page B (A's token)" },
    ]);
  });
});

test("a duplicated tab shares the state, has its own tab id, and takes over as leader", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);
    await addTodo(a.page, "Written before the duplicate");
    await waitForTestId(a.page, "leader", "Leader");

    // A duplicated tab starts with a copy of the original's sessionStorage.
    const storage = await sessionStorageOf(a.page);
    assert.ok(storage[TOKEN_KEY], "the token is in sessionStorage");
    const b = await openDemo(context, server.url, { storage });

    assert.equal(await tokenOf(b.page), await tokenOf(a.page), "same token");
    assert.deepEqual(await todoTexts(b.page), ["Written before the duplicate"], "B has the state");
    assert.equal(b.frames.joins[0]?.resume, "snapshot", "a new page joins with no cursor: snapshot");

    const tabA = await textOf(a.page, "tab-id");
    const tabB = await textOf(b.page, "tab-id");
    assert.ok(tabA && tabB, "both show a tab id");
    assert.notEqual(tabA, tabB, "each page has its own tab id");
    assert.equal(tabA, await a.page.evaluate(() => window.tabhubDemo.hub.tabId));
    assert.equal(tabB, b.frames.joins[0].tab_id, "the shown tab id is the one the server knows");

    await waitForTestId(a.page, "tabs", "2");
    await waitForTestId(b.page, "tabs", "2");
    assert.equal(await isLeader(a.page), true, "the first tab is the leader");
    assert.equal(await isLeader(b.page), false, "the duplicate is not");

    await a.page.close();
    await waitForTestId(b.page, "leader", "Leader");
    await waitForTestId(b.page, "tabs", "1");
    assert.equal(await isLeader(b.page), true);
    assert.deepEqual(b.errors, []);
  });
});

test("a toast shows only on the page that asked for it", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);
    const b = await openDemo(context, server.url, { storage: { [TOKEN_KEY]: await tokenOf(a.page) } });
    await waitForTestId(b.page, "tabs", "2");

    const toastFor = (page, text) => page.locator('[data-testid="toast"]', { hasText: text });

    await a.page.fill('[data-testid="toast-input"]', "Only for page A");
    await a.page.click('[data-testid="toast-send"]');
    await toastFor(a.page, "Only for page A").waitFor({ timeout: 10_000 });

    // The session handles events in order: once B's own later event is
    // reflected in B, A's toast would have reached B before it.
    await addTodo(b.page, "After A's toast");
    assert.equal(await b.page.locator('[data-testid="toast"]').count(), 0, "B shows no toast");

    await b.page.fill('[data-testid="toast-input"]', "Only for page B");
    await b.page.click('[data-testid="toast-send"]');
    await toastFor(b.page, "Only for page B").waitFor({ timeout: 10_000 });
    await addTodo(a.page, "After B's toast");
    assert.equal(await toastFor(a.page, "Only for page B").count(), 0, "A does not show B's toast");
    assert.equal(await toastFor(b.page, "Only for page A").count(), 0, "B never showed A's toast");

    // Toasts go away by themselves after a few seconds.
    await toastFor(a.page, "Only for page A").waitFor({ state: "detached", timeout: 10_000 });
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  });
});
