// The demo page tells a person the truth: which tabs share a session, that a
// todo sent while offline is not saved yet, why a todo was refused (in a
// sentence, not a reason code), and why a blank todo did nothing.

import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";

import {
  TOKEN_KEY,
  addTodo,
  eventsSent,
  openDemo,
  stateOf,
  textOf,
  todoTexts,
  tokenOf,
  waitFor,
  waitForTestId,
  waitOpen,
  waitStatus,
  withServer,
} from "./harness.mjs";

/** The server's limit on a todo's text (src/demo.rs). */
const MAX_TODO_CHARS = 100_000;

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

/** The texts of the todos the page lists as pending, in order. */
function pendingTexts(page) {
  return page.locator('[data-testid="todo-pending"] [data-testid="todo-pending-text"]').allTextContents();
}

/** Submits the todo form with `text` as typed (nothing checks it first). */
async function submitTodo(page, text) {
  await page.fill('[data-testid="todo-input"]', text);
  await page.click('[data-testid="todo-add"]');
}

/** Waits until the todo form's message line is shown with `kind` and returns it. */
async function formMessage(page, kind) {
  const line = byTestId(page, "form-message");
  await waitFor(
    async () => (await line.getAttribute("data-kind")) === kind && (await line.isVisible()),
    async () => `a ${kind} message under the todo form: it reads ${JSON.stringify(await line.textContent())}`,
  );
  return {
    text: ((await line.textContent()) ?? "").trim(),
    reason: await line.getAttribute("data-reason"),
    live: await line.getAttribute("aria-live"),
  };
}

test("the headline says only a duplicated or reloaded tab shares the session, and a tab opened separately gets its own", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);

    const lede = ((await byTestId(a.page, "lede").textContent()) ?? "").replace(/\s+/g, " ");
    assert.match(lede, /sessionStorage/, "the headline names where the key is kept");
    assert.match(lede, /duplicate of this tab, or this tab after a reload, shares/, "it says who shares");
    assert.match(lede, /open separately .* gets a session of its own/, "it says who does not");
    assert.match(lede, /To see sharing, duplicate this tab/, "it says how to see sharing");
    assert.doesNotMatch(lede, /every tab of this browser/i, "no claim about every tab");
    const keyTitle = (await byTestId(a.page, "session-key").getAttribute("title")) ?? "";
    assert.match(keyTitle, /sessionStorage/);
    assert.match(keyTitle, /opened separately gets a new key/);

    await addTodo(a.page, "Only in A's session");

    // A second tab of the same browser, opened separately: its own token,
    // its own session, none of A's todos.
    const separate = await openDemo(context, server.url);
    assert.notEqual(await tokenOf(separate.page), await tokenOf(a.page), "a separate tab makes its own token");
    assert.notEqual(await textOf(separate.page, "session-key"), await textOf(a.page, "session-key"), "and shows another key");
    assert.deepEqual((await stateOf(separate.page)).todos, [], "its session is empty");
    assert.deepEqual(await todoTexts(separate.page), []);
    await waitForTestId(separate.page, "tabs", "1");

    // A page holding a copy of A's token, as a duplicated tab does: A's session.
    const duplicate = await openDemo(context, server.url, { storage: { [TOKEN_KEY]: await tokenOf(a.page) } });
    assert.equal(await textOf(duplicate.page, "session-key"), await textOf(a.page, "session-key"), "the same key");
    assert.deepEqual(await todoTexts(duplicate.page), ["Only in A's session"], "and A's todos");
    await waitForTestId(a.page, "tabs", "2");
    await waitForTestId(separate.page, "tabs", "1");

    for (const p of [a, separate, duplicate]) assert.deepEqual(p.errors, []);
  });
});

test("a blank todo says why nothing was added and sends no event", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);
    const seqBefore = await textOf(a.page, "seq");

    // Nothing typed.
    await submitTodo(a.page, "");
    let message = await formMessage(a.page, "hint");
    assert.equal(message.text, "Type something first: a blank todo is not added.");
    assert.equal(message.live, "polite", "the message is announced");
    assert.equal(await byTestId(a.page, "todo-input").getAttribute("aria-invalid"), "true");
    assert.equal(
      await byTestId(a.page, "todo-input").getAttribute("aria-describedby"),
      await byTestId(a.page, "form-message").getAttribute("id"),
      "the input points at its message",
    );

    // Only spaces: passes `required`, but is no todo either. Typing clears
    // the last message first.
    await a.page.fill('[data-testid="todo-input"]', "  ");
    assert.equal(await byTestId(a.page, "form-message").getAttribute("data-kind"), "", "typing clears the message");
    await a.page.click('[data-testid="todo-add"]');
    message = await formMessage(a.page, "hint");
    assert.equal(message.text, "Type something first: a todo of only spaces is not added.");

    // Nothing went to the server and nothing is listed.
    await sleep(300);
    assert.deepEqual(eventsSent(a.frames, "add_todo"), [], "no add_todo was pushed");
    assert.equal(await byTestId(a.page, "todo-item").count(), 0);
    assert.equal(await byTestId(a.page, "todo-pending").count(), 0);
    assert.equal(await textOf(a.page, "seq"), seqBefore, "the session did not move");
    assert.equal(await byTestId(a.page, "todo-empty").isVisible(), true, "the list still says it is empty");

    // A real todo then goes through, and the message goes away.
    await addTodo(a.page, "Something after all");
    assert.equal(await byTestId(a.page, "form-message").isVisible(), false);
    assert.equal(await byTestId(a.page, "todo-input").getAttribute("aria-invalid"), null);
    assert.equal(eventsSent(a.frames, "add_todo").length, 1);
    assert.deepEqual(a.errors, []);
  });
});

test("an over-long todo is refused with a sentence, not the reason code", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);
    const text = "x".repeat(MAX_TODO_CHARS + 1);

    // Set in script, past any maxlength of the input.
    await a.page.evaluate((text) => {
      /** @type {HTMLInputElement} */ (document.querySelector('[data-testid="todo-input"]')).value = text;
    }, text);
    await a.page.click('[data-testid="todo-add"]');

    const message = await formMessage(a.page, "error");
    assert.equal(message.reason, "too_long", "the server refused it as too long");
    assert.doesNotMatch(message.text, /too_long/, "the code is not shown");
    assert.match(message.text, /was not added\. That is too long: a todo can have at most 100,000 characters\.$/);
    assert.ok(message.text.length < 200, "the refused text is quoted short");

    const sent = eventsSent(a.frames, "add_todo");
    assert.equal(sent.length, 1, "it was sent");
    assert.equal(sent[0].payload.text.length, MAX_TODO_CHARS + 1);
    assert.equal(await byTestId(a.page, "todo-item").count(), 0, "nothing was added");
    assert.equal(await byTestId(a.page, "todo-pending").count(), 0, "nothing stays pending");
    assert.equal(
      await a.page.evaluate(() => document.querySelector('[data-testid="todo-input"]').value.length),
      MAX_TODO_CHARS + 1,
      "the refused text is back in the input for editing",
    );
    assert.equal(await byTestId(a.page, "toasts").textContent(), "", "no raw error elsewhere");
    assert.deepEqual(a.errors, []);
  });
});

test("a todo added while offline is listed as pending, then as a real todo once the connection is back", async () => {
  await withServer([], async ({ server, browser }) => {
    // A goes offline; B (another browser, A's token) stays online.
    const contextA = await browser.newContext();
    const contextB = await browser.newContext();
    const a = await openDemo(contextA, server.url);
    const b = await openDemo(contextB, server.url, { storage: { [TOKEN_KEY]: await tokenOf(a.page) } });
    await addTodo(a.page, "Written online");

    await contextA.setOffline(true);
    await waitStatus(a.page, "offline");
    await submitTodo(a.page, "Written offline");

    // Listed, but as pending: greyed, labelled and busy, not a todo yet.
    await waitFor(async () => (await pendingTexts(a.page)).includes("Written offline"), "the offline todo to show as pending");
    const pending = byTestId(a.page, "todo-pending");
    assert.equal(await pending.count(), 1);
    assert.equal(((await pending.locator('[data-testid="todo-pending-label"]').textContent()) ?? "").trim(), "pending");
    assert.equal(await pending.locator('[data-testid="todo-pending-label"]').isVisible(), true);
    assert.equal(await pending.getAttribute("aria-busy"), "true");
    assert.equal(
      ((await pending.locator('[data-testid="todo-pending-note"]').textContent()) ?? "").trim(),
      "sent when the connection is back",
    );
    assert.match((await pending.getAttribute("title")) ?? "", /Not saved yet/);
    assert.deepEqual(await todoTexts(a.page), ["Written online"], "not among the real todos");
    assert.ok(
      (await a.page.evaluate(() => getComputedStyle(document.querySelector('[data-testid="todo-pending-text"]')).color)) !==
        (await a.page.evaluate(() => getComputedStyle(document.querySelector('[data-testid="todo-text"]')).color)),
      "greyed unlike a real todo",
    );
    assert.deepEqual(eventsSent(a.frames, "add_todo").length, 1, "only the online todo was sent so far");
    assert.equal(await byTestId(a.page, "form-message").isVisible(), false, "no error while it waits");

    await sleep(1000);
    assert.deepEqual(await todoTexts(b.page), ["Written online"], "the session does not have it yet");

    await contextA.setOffline(false);
    await waitOpen(a.page);
    await waitFor(async () => (await todoTexts(a.page)).includes("Written offline"), "the todo to become a real one");
    await waitFor(async () => (await byTestId(a.page, "todo-pending").count()) === 0, "the pending entry to go");
    assert.deepEqual(await todoTexts(a.page), ["Written online", "Written offline"]);
    await waitFor(
      async () => JSON.stringify(await todoTexts(b.page)) === JSON.stringify(["Written online", "Written offline"]),
      "the other page to list it too",
    );
    assert.equal(eventsSent(a.frames, "add_todo").length, 2, "sent once, after the rejoin");
    assert.equal(await byTestId(a.page, "form-message").isVisible(), false);
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  });
});

test("a todo refused after the connection is back leaves the pending list and says why", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);

    await context.setOffline(true);
    await waitStatus(a.page, "offline");
    await a.page.evaluate((text) => {
      /** @type {HTMLInputElement} */ (document.querySelector('[data-testid="todo-input"]')).value = text;
    }, "y".repeat(MAX_TODO_CHARS + 1));
    await a.page.click('[data-testid="todo-add"]');
    await waitFor(async () => (await byTestId(a.page, "todo-pending").count()) === 1, "the todo to wait as pending");

    await context.setOffline(false);
    await waitOpen(a.page);
    const message = await formMessage(a.page, "error");
    assert.equal(message.reason, "too_long");
    assert.match(message.text, /That is too long: a todo can have at most 100,000 characters\.$/);
    assert.equal(await byTestId(a.page, "todo-pending").count(), 0, "the pending entry is gone");
    assert.equal(await byTestId(a.page, "todo-item").count(), 0, "and no todo took its place");
    assert.deepEqual(a.errors, []);
  });
});
