// The React example (examples/react/, tabhub/react) in Chromium: see scenario.mjs.

import { test } from "node:test";

import { twoPagesShareOneSession } from "./scenario.mjs";

test("the React example: a push from one page renders in the other, and status changes show", () =>
  twoPagesShareOneSession("react", { tabs: true }));
