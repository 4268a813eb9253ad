// The demo's presence list in real Chromium pages: every page of a session
// shows which tabs have it open, dimmed while hidden, and drops a page
// that closes. The binary's demo keeps the list (tabhub's own test runs
// turn it off with TABHUB_NO_DEMO_PRESENCE, so it is turned back on here);
// through the app proxy, the Python demo backend keeps it from the
// URL/presence calls of --app-presence.

import assert from "node:assert/strict";
import { test } from "node:test";

import { TOKEN_KEY, openDemo, saveSideBySide, setHidden, tokenOf, waitFor, waitForTestId, withServer } from "./harness.mjs";

const ARGS = process.env.TABHUB_BACKEND === "python" ? ["--app-presence"] : ["--no-demo-presence=false"];

/** The page's presence chips: `{tab, visible, you}` in the list's order. */
function chipsOf(page) {
  return page.locator('[data-testid="here"] li').evaluateAll((lis) =>
    lis.map((li) => ({ tab: li.dataset.tab, visible: li.dataset.visible === "true", you: li.dataset.you === "true" })),
  );
}

test("every page shows who has the session open, hidden or not, until they close", async () => {
  await withServer(ARGS, async ({ server, browser }) => {
    const context = await browser.newContext();
    const a = await openDemo(context, server.url);
    const b = await openDemo(context, server.url, { storage: { [TOKEN_KEY]: await tokenOf(a.page) } });
    await waitForTestId(a.page, "tabs", "2");
    await waitForTestId(b.page, "tabs", "2");
    const tabA = await a.page.evaluate(() => window.tabhubDemo.hub.tabId);
    const tabB = await b.page.evaluate(() => window.tabhubDemo.hub.tabId);

    const both = (hiddenB) =>
      waitFor(async () => {
        const chips = await chipsOf(a.page);
        return (
          JSON.stringify(chips) ===
          JSON.stringify([
            { tab: tabA, visible: true, you: true },
            { tab: tabB, visible: !hiddenB, you: false },
          ])
        );
      }, `A to list both tabs, B ${hiddenB ? "hidden" : "shown"}`);
    await both(false);
    assert.deepEqual(
      (await chipsOf(b.page)).map((c) => [c.tab, c.you]),
      [
        [tabA, false],
        [tabB, true],
      ],
      "B lists the same tabs and marks itself",
    );
    assert.match(await a.page.locator(`[data-tab="${tabB}"]`).innerText(), new RegExp(`^${tabB.slice(0, 6)}$`));

    await setHidden(b.page, true);
    await both(true);
    assert.match(await a.page.locator(`[data-tab="${tabB}"]`).innerText(), /\(hidden\)$/);
    await saveSideBySide(browser, "presence", [
      { page: a.page, caption: "Page A" },
      { page: b.page, caption: "Page B (hidden)" },
    ]);
    await setHidden(b.page, false);
    await both(false);

    await b.page.close();
    await waitFor(
      async () => JSON.stringify(await chipsOf(a.page)) === JSON.stringify([{ tab: tabA, visible: true, you: true }]),
      "A to list itself alone once B closed",
    );
    assert.deepEqual(a.errors, []);
  });
});
