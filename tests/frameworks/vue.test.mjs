// The Vue example (examples/vue/, tabhub/vue) in Chromium: see scenario.mjs.

import { test } from "node:test";

import { twoPagesShareOneSession } from "./scenario.mjs";

test("the Vue example: a push from one page renders in the other, and status changes show", () =>
  twoPagesShareOneSession("vue", { tabs: true }));
