// The admin page (/admin) in real Chromium: it asks for the server API's
// token, refuses a wrong one, and then shows this node's counts, the
// session a demo page made (live, its tab, its seq; the key only in its
// short form) and headline totals from /metrics.

import assert from "node:assert/strict";
import { test } from "node:test";

import { API_TOKEN, addTodo, openDemo, tokenOf, waitFor, withServer } from "./harness.mjs";

/** The number shown in the admin page's box `label`. */
async function shown(page, box, label) {
  const text = await page.locator(`#${box} .number[data-name="${label}"] b`).textContent({ timeout: 1000 });
  return text?.trim() ?? "";
}

test("the admin page shows this node's sessions behind the API token", async () => {
  // With the Python backend the harness already gives the binary this token.
  const args = process.env.TABHUB_BACKEND === "python" ? [] : ["--api-token", API_TOKEN];
  await withServer(args, async ({ server, browser }) => {
    const demo = await openDemo(await browser.newContext(), server.url);
    await addTodo(demo.page, "Seen by the admin");
    const key = await tokenOf(demo.page);

    const admin = await (await browser.newContext()).newPage();
    await admin.goto(`${server.url}/admin`);
    await admin.locator("#login").waitFor({ state: "visible" });
    assert.equal(await admin.locator("#view").isVisible(), false, "nothing shown before a token");

    await admin.fill("#token", "not-the-token");
    await admin.click('#login button[type="submit"]');
    await waitFor(
      async () => (await admin.locator("#problem").textContent())?.includes("refused") ?? false,
      "the page to say the token was refused",
    );
    assert.equal(await admin.locator("#view").isVisible(), false);

    await admin.fill("#token", API_TOKEN);
    await admin.click('#login button[type="submit"]');
    await admin.locator("#view").waitFor({ state: "visible" });
    assert.equal(await shown(admin, "stats", "live sessions"), "1");
    assert.equal(await shown(admin, "stats", "tabs"), "1");
    assert.ok(Number(await shown(admin, "totals", "events ok")) >= 1, "events answered ok, from /metrics");

    // The demo page's session, live here (the memory store has saved
    // nothing yet, so the live listing is where it is).
    await admin.check("#live");
    await waitFor(async () => (await admin.locator("#sessions tr").count()) === 1, "one live session listed");
    const cells = await admin.locator("#sessions tr td").allTextContents();
    assert.deepEqual(cells.slice(0, 4), [`${key.slice(0, 6)}…`, "live", "1", "1"]);
    assert.ok(Number(cells[4]) >= 1, `its seq counts the todo: ${cells}`);
    const html = await admin.content();
    assert.ok(!html.includes(key), "the whole session key appears nowhere on the page");

    // The token stays in this tab only, and can be forgotten.
    await admin.click("#forget");
    await admin.locator("#login").waitFor({ state: "visible" });
  });
});
