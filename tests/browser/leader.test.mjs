// The elected tab in real Chromium pages: the leader badge follows the
// visible page, and a chain whose page closed goes to the leader.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  TOKEN_KEY,
  addTodo,
  isLeader,
  openDemo,
  saveSideBySide,
  setHidden,
  textOf,
  tokenOf,
  waitFor,
  waitForTestId,
  withServer,
} from "./harness.mjs";

test("the leader badge is on the visible page; a chain whose page closed goes to it", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);
    const b = await openDemo(context, server.url, { storage: { [TOKEN_KEY]: await tokenOf(a.page) } });
    await waitForTestId(b.page, "tabs", "2");
    await waitForTestId(a.page, "leader", "Leader");
    assert.equal(await isLeader(b.page), false, "the first page to join leads");

    // A goes to the background: the client reports it, the server re-elects.
    await setHidden(a.page, true);
    await waitFor(
      () => a.frames.sent.some(([, , , event, body]) => event === "visibility" && body.visibility === "hidden"),
      "A to report hidden to the server",
    );
    await waitForTestId(b.page, "leader", "Leader");
    await waitForTestId(a.page, "leader", "Follower");
    await saveSideBySide(browser, "leader-visible", [
      { page: a.page, caption: "Page A (hidden)" },
      { page: b.page, caption: "Page B (visible, leader)" },
    ]);

    // A starts a chain and holds its first step ("ask me"), then closes.
    const seqBefore = Number(await textOf(b.page, "seq"));
    const countBefore = Number(await textOf(b.page, "chain-count"));
    await a.page.check('[data-testid="chain-ask"]');
    await a.page.click('[data-testid="chain-start"]');
    const waiting = a.page.locator('[data-testid="chain-waiting"]');
    await waiting.waitFor({ timeout: 10_000 });
    assert.equal(await textOf(a.page, "chain-received"), "1", "the chain went to its originating page, A");
    assert.equal(await textOf(b.page, "chain-received"), "0", "not to B");
    await a.page.close();

    // The server re-sends the step to the leader, B, which re-queues it and
    // then gets the next steps (it originates them).
    await waitForTestId(b.page, "chain-count", String(countBefore + 3));
    await waitForTestId(b.page, "chain-received", "3");
    await waitForTestId(b.page, "tabs", "1");
    // Nothing more comes: one more event of B's goes after any stray step.
    await addTodo(b.page, "After the chain");
    assert.equal(await textOf(b.page, "chain-count"), String(countBefore + 3), "exactly +3");
    assert.equal(Number(await textOf(b.page, "seq")), seqBefore + 4, "three chain steps and one todo");
    assert.deepEqual(b.errors, []);
  });
});

test("a page that joins hidden does not take the lead; it does once it is the visible one", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);
    const b = await openDemo(context, server.url, { storage: { [TOKEN_KEY]: await tokenOf(a.page) }, hidden: true });
    const join = b.frames.sent.find(([, , topic, event]) => event === "phx_join" && topic.startsWith("session:"));
    assert.equal(join?.[4].visibility, "hidden", "B joins as hidden");
    await waitForTestId(a.page, "tabs", "2");
    await waitForTestId(b.page, "leader", "Follower");
    assert.equal(await isLeader(a.page), true, "visible A keeps the lead");

    // Both hidden: no visible tab to hand over to, A stays.
    await setHidden(a.page, true);
    await waitFor(
      () => a.frames.sent.some(([, , , event, body]) => event === "visibility" && body.visibility === "hidden"),
      "A to report hidden",
    );
    await addTodo(b.page, "Round trip after A hid");
    assert.equal(await isLeader(a.page), true, "no visible tab: A stays leader");
    assert.equal(await isLeader(b.page), false);

    // B comes to the front: it is now the visible tab and takes the lead.
    await setHidden(b.page, false);
    await waitForTestId(b.page, "leader", "Leader");
    await waitForTestId(a.page, "leader", "Follower");
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  });
});
