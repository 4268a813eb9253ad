// A real Chromium page of the demo resuming its session: after a network
// blip (replay, no reload) and after a reload (snapshot).

import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";

import {
  TOKEN_KEY,
  WAIT_MS,
  addTodo,
  openDemo,
  saveSideBySide,
  stateOf,
  textOf,
  todoTexts,
  tokenOf,
  waitFor,
  waitForTestId,
  waitStatus,
  withServer,
} from "./harness.mjs";

/** How long the network stays down. */
const OFFLINE_MS = 3000;

/** Starts a job through the page's form. */
async function startJob(page, key, steps, stepMs) {
  await page.fill('[data-testid="job-key"]', key);
  await page.fill('[data-testid="job-steps"]', String(steps));
  await page.fill('[data-testid="job-step-ms"]', String(stepMs));
  await page.click('[data-testid="job-start"]');
  await page.locator(`[data-testid="job-${key}"]`).waitFor({ timeout: WAIT_MS });
}

/** The job's progress as the page shows it (the <progress> value). */
async function progressOf(page, key) {
  const value = await page.locator(`[data-testid="job-${key}"] [data-testid="progress"]`).evaluate((p) => p.value);
  return Number(value);
}

/**
 * One consistent look at a page (one turn of its event loop): the seq it
 * shows, its client's seq and state, and the value of job `key`'s bar.
 */
function viewOf(page, key) {
  return page.evaluate((key) => {
    const { session } = window.tabhubDemo;
    const bar = document.querySelector(`[data-testid="job-${key}"] [data-testid="progress"]`);
    return {
      seq: document.querySelector('[data-testid="seq"]').textContent,
      clientSeq: session.seq,
      state: JSON.parse(JSON.stringify(session.state)),
      bar: bar ? bar.value : null,
    };
  }, key);
}

test("a network blip: the page resumes by replay, without a reload, and the job kept running", async () => {
  await withServer([], async ({ server, browser }) => {
    // Page A goes offline; page B (another browser context, same token)
    // stays online and changes the state meanwhile.
    const contextA = await browser.newContext();
    const contextB = await browser.newContext();
    const a = await openDemo(contextA, server.url);
    const token = await tokenOf(a.page);
    const b = await openDemo(contextB, server.url, { storage: { [TOKEN_KEY]: token } });
    await waitForTestId(a.page, "tabs", "2");

    await addTodo(a.page, "Before the blip");
    const STEPS = 150;
    await startJob(a.page, "blip", STEPS, 100);
    await waitFor(async () => (await progressOf(a.page, "blip")) >= 2, "the job to make progress");

    await a.page.evaluate(() => (window.__sameDocument = true));
    const joinsBefore = a.frames.joins.length;
    const tabId = await textOf(a.page, "tab-id");

    await contextA.setOffline(true);
    await waitStatus(a.page, "offline");
    // A's socket is closed: its cursor stays where it is until it rejoins.
    const progressBefore = await progressOf(a.page, "blip");
    const seqBefore = Number(await textOf(a.page, "seq"));
    await addTodo(b.page, "Added while A was offline");
    await sleep(OFFLINE_MS);
    assert.equal(await a.page.evaluate(() => navigator.onLine), false);
    assert.ok(
      !(await todoTexts(a.page)).includes("Added while A was offline"),
      "A got nothing while offline",
    );
    assert.equal(a.frames.joins.length, joinsBefore, "A did not rejoin while offline");
    await contextA.setOffline(false);

    await waitStatus(a.page, "open");
    await waitFor(() => a.frames.joins.length > joinsBefore, "A to rejoin after the blip");
    const rejoin = a.frames.joins[a.frames.joins.length - 1];
    assert.equal(rejoin.resume, "replay", `the rejoin resumes by replay: ${JSON.stringify(rejoin).slice(0, 300)}`);
    assert.ok(rejoin.deltas.length > 0, "the replay carries the missed deltas");
    assert.equal(rejoin.deltas[0].seq, seqBefore + 1, "the replay starts right after A's cursor");
    assert.equal(rejoin.tab_id, tabId, "same page, same tab id");
    await waitFor(async () => (await textOf(a.page, "resume"))?.trim() === "replay", "the page to show it resumed by replay");

    assert.equal(await a.page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
    assert.equal(await tokenOf(a.page), token, "same token");
    await waitFor(
      async () => (await todoTexts(a.page)).includes("Added while A was offline"),
      "A to show the todo added while it was offline",
    );

    // The job kept running server-side while A was away, and A's view of it
    // is current: A and B agree on seq and state while it still runs.
    const caughtUp = await waitFor(async () => {
      const [va, vb] = await Promise.all([viewOf(a.page, "blip"), viewOf(b.page, "blip")]);
      return va.seq === vb.seq && JSON.stringify(va.state) === JSON.stringify(vb.state) && va;
    }, "A and B to agree on seq and state");
    const job = caughtUp.state.jobs.blip;
    assert.equal(job.status, "running", "the job still runs (make it longer if this fails)");
    assert.ok(
      job.progress >= progressBefore + Math.floor(OFFLINE_MS / 100 / 2),
      `progress went on during the blip: ${progressBefore} before, ${job.progress} after`,
    );
    assert.equal(caughtUp.bar, job.progress, "the bar shows it");
    assert.equal(caughtUp.seq, String(caughtUp.clientSeq), "the status bar shows the seq");
    assert.deepEqual(
      caughtUp.state.todos.map((t) => t.text),
      ["Before the blip", "Added while A was offline"],
      "no state lost",
    );
    await saveSideBySide(browser, "network-blip", [
      { page: a.page, caption: "Page A, back online (replay)" },
      { page: b.page, caption: "Page B, stayed online" },
    ]);

    // Cancel from A; both see it.
    await a.page.locator('[data-testid="job-blip"] [data-testid="cancel"]').click();
    await waitFor(
      async () => (await b.page.locator('[data-testid="job-blip"]').getAttribute("data-status")) === "cancelled",
      "B to see the job cancelled",
    );
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  });
});

test("a reload keeps the token and the state, by snapshot", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);
    const token = await tokenOf(a.page);
    await addTodo(a.page, "Survives a reload");
    await addTodo(a.page, "So does this one");
    await a.page.locator('[data-testid="todo-item"]', { hasText: "So does this one" }).locator('[data-testid="todo-toggle"]').click();
    await waitFor(
      async () =>
        (await a.page.locator('[data-testid="todo-item"]', { hasText: "So does this one" }).getAttribute("data-done")) ===
        "true",
      "the todo to be done",
    );
    await startJob(a.page, "quick", 3, 50);
    await waitFor(
      async () => (await a.page.locator('[data-testid="job-quick"]').getAttribute("data-status")) === "done",
      "the job to finish",
    );
    const before = await stateOf(a.page);
    const seqBefore = await textOf(a.page, "seq");
    const epochBefore = await textOf(a.page, "epoch");
    const tabBefore = await textOf(a.page, "tab-id");
    const joinsBefore = a.frames.joins.length;

    await a.page.reload();
    await waitStatus(a.page, "open");
    await waitFor(() => a.frames.joins.length > joinsBefore, "the reloaded page to join");

    assert.equal(await tokenOf(a.page), token, "same token after the reload");
    assert.equal(a.frames.joins[a.frames.joins.length - 1].resume, "snapshot", "a reloaded page resumes by snapshot");
    await waitFor(async () => (await textOf(a.page, "resume"))?.trim() === "snapshot", "the page to show it resumed by snapshot");
    await waitFor(async () => (await todoTexts(a.page)).length === 2, "the todos to show again");
    assert.deepEqual(await stateOf(a.page), before, "same state");
    assert.deepEqual(await todoTexts(a.page), ["Survives a reload", "So does this one"]);
    assert.equal(
      await a.page.locator('[data-testid="todo-item"]', { hasText: "So does this one" }).getAttribute("data-done"),
      "true",
    );
    assert.equal(await a.page.locator('[data-testid="job-quick"]').getAttribute("data-status"), "done");
    assert.equal(await textOf(a.page, "seq"), seqBefore, "same seq");
    assert.equal(await textOf(a.page, "epoch"), epochBefore, "same epoch");
    assert.notEqual(await textOf(a.page, "tab-id"), tabBefore, "a reloaded page is a new tab");
    assert.deepEqual(a.errors, []);
  });
});
