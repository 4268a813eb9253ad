// Two real tabs of the demo side by side, one session: the picture in
// target/browser-screenshots/two-tabs.png. With TABHUB_UPDATE_SCREENSHOT=1
// it is also written to docs/screenshot.png (the README's picture).

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import {
  ROOT,
  TOKEN_KEY,
  addTodo,
  openDemo,
  saveComposite,
  screenshotOf,
  textOf,
  tokenOf,
  waitFor,
  waitForTestId,
  withServer,
} from "./harness.mjs";

const VIEWPORT = { width: 960, height: 800 };
const SCALE = 0.7;
const MAX_BYTES = 300 * 1024;

test("screenshot: two tabs of one session side by side", async () => {
  await withServer([], async ({ server, browser }) => {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const a = await openDemo(context, server.url);
    const b = await openDemo(context, server.url, { storage: { [TOKEN_KEY]: await tokenOf(a.page) } });
    await waitForTestId(b.page, "tabs", "2");

    await addTodo(a.page, "Write the release notes");
    await addTodo(b.page, "Review the chain timeout PR");
    await addTodo(a.page, "Try a duplicated tab");
    await a.page
      .locator('[data-testid="todo-item"]', { hasText: "Write the release notes" })
      .locator('[data-testid="todo-toggle"]')
      .click();

    for (const [key, steps, stepMs] of [
      ["reindex", 4, 20],
      ["export-csv", 20, 4000],
    ]) {
      await b.page.fill('[data-testid="job-key"]', key);
      await b.page.fill('[data-testid="job-steps"]', String(steps));
      await b.page.fill('[data-testid="job-step-ms"]', String(stepMs));
      await b.page.click('[data-testid="job-start"]');
      await a.page.locator(`[data-testid="job-${key}"]`).waitFor();
    }
    await b.page.click('[data-testid="chain-start"]');
    await waitForTestId(a.page, "chain-count", "3");
    await waitFor(
      async () => (await a.page.locator('[data-testid="job-reindex"]').getAttribute("data-status")) === "done",
      "reindex to finish",
    );
    await waitFor(
      async () => Number(await a.page.locator('[data-testid="job-export-csv"]').getAttribute("data-progress")) >= 2,
      "export-csv to make progress",
    );
    await a.page.fill('[data-testid="toast-input"]', "Toast for this tab only");
    const toast = a.page.locator('[data-testid="toast"]');
    const showToast = async () => {
      await a.page.click('[data-testid="toast-send"]');
      await toast.first().waitFor();
      // Blur the inputs so no focus ring shows.
      for (const page of [a.page, b.page]) {
        await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
      }
    };
    await showToast();

    // Both shots at the same seq (the job ticks every 4 s). On a loaded
    // machine two screenshots can take seconds, so a tick often falls
    // between them: the wait allows many tries.
    let shots;
    await waitFor(async () => {
      if ((await toast.count()) === 0) await showToast(); // it lasts a few seconds
      const seq = await textOf(a.page, "seq");
      if ((await textOf(b.page, "seq")) !== seq) return false;
      shots = [
        { png: await screenshotOf(a.page), caption: "Tab 1 · the leader, which asked for the toast" },
        { png: await screenshotOf(b.page), caption: "Tab 2 · a duplicate of it: same session, own tab id" },
      ];
      const same = (await textOf(a.page, "seq")) === seq && (await textOf(b.page, "seq")) === seq;
      return same && (await toast.count()) > 0;
    }, "two screenshots at the same seq", 45_000);
    const shot = await saveComposite(browser, "two-tabs", shots, { scale: SCALE });

    assert.ok(shot.png.length < MAX_BYTES, `the screenshot is ${shot.png.length} bytes, over ${MAX_BYTES}`);
    console.log(`screenshot: ${shot.file} (${shot.png.length} bytes)`);
    if (process.env.TABHUB_UPDATE_SCREENSHOT === "1") {
      const docs = path.join(ROOT, "docs/screenshot.png");
      writeFileSync(docs, shot.png);
      console.log(`screenshot: also ${docs}`);
    }
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  });
});
