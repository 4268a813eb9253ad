// The Svelte example (examples/svelte/, tabhub/svelte) in Chromium: see scenario.mjs.

import { test } from "node:test";

import { twoPagesShareOneSession } from "./scenario.mjs";

test("the Svelte example: a push from one page renders in the other, and status changes show", () =>
  twoPagesShareOneSession("svelte", { tabs: true }));
