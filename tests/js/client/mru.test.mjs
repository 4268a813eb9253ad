// tabhub.js's MRU cap against the real binary: with maxFullJoins reached,
// the least recently opened session drops to a summary join
// (docs/protocol.md section 5.8 (summary joins)), hears of its changes
// through `summary` messages only, and is re-opened with a snapshot, never
// a replay from its old cursor.
//
// The demo app's summary is {"todos": count, "open": not-done count,
// "jobs_running": count}.

import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { after, afterEach, before, test } from "node:test";

import {
  T,
  closeHubs,
  frames,
  joinReplies,
  joinedFull,
  makeHub,
  randomKey,
  startServer,
  waitFor,
} from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  closeHubs();
  await server?.stop();
});
afterEach(() => closeHubs());

test("maxFullJoins 1: opening B evicts A to a summary join; A hears summaries; re-opening A takes a snapshot", T, async () => {
  const hub = makeHub(server, { maxFullJoins: 1 });
  const keyA = randomKey();
  const keyB = randomKey();
  const a = hub.session(keyA);
  await a.push("add_todo", { text: "a1" });
  assert.equal(a.seq, 1);
  const writer = makeHub(server).session(keyA);
  await joinedFull(writer);
  await waitFor(() => a.tabs === 2, "A to count the writer's tab");

  const modes = [];
  a.onChange((s) => modes.push(s.mode));
  const b = hub.session(keyB);
  await joinedFull(b);
  await waitFor(() => a.mode === "summary", () => `A in summary mode (is ${a.mode}, error ${a.error?.message})`);
  assert.deepEqual(modes.filter((m, i) => m !== modes[i - 1]), ["joining", "summary"]);

  const summaryJoin = frames(hub.trace, "out", "phx_join", a.topic).at(-1);
  assert.deepEqual(summaryJoin[4], { mode: "summary" }, "a summary join carries no cursor");
  const summaryReply = joinReplies(hub.trace, a.topic).at(-1)[4];
  assert.equal(summaryReply.status, "ok");
  assert.ok("summary" in summaryReply.response, `the reply has a summary: ${JSON.stringify(summaryReply)}`);
  assert.equal(summaryReply.response.tab_id, hub.tabId);
  assert.ok(!("state" in summaryReply.response) && !("deltas" in summaryReply.response));
  assert.deepEqual(a.summary, { todos: 1, open: 1, jobs_running: 0 });
  assert.equal(a.leader, false);
  await waitFor(() => writer.tabs === 1, () => `a summary join is not a tab (writer sees ${writer.tabs})`);
  await assert.rejects(a.push("add_todo", { text: "refused" }), (e) => e.reason === "summary_only");
  await assert.rejects(a.cancel("x"), (e) => e.reason === "summary_only");

  // Another client changes A: A hears of it through summary messages only.
  const summaries = [];
  a.onChange((s) => summaries.push(s.summary));
  await writer.push("add_todo", { text: "a2" });
  await writer.push("toggle_todo", { id: writer.state.todos[0].id });
  await waitFor(
    () => isDeepStrictEqual(a.summary, { todos: 2, open: 1, jobs_running: 0 }),
    () => `A's summary {todos: 2, open: 1} (is ${JSON.stringify(a.summary)})`,
  );
  assert.ok(frames(hub.trace, "in", "summary", a.topic).length >= 1);
  assert.ok(summaries.length >= 1, "onChange fired for the summary");
  const summaryRef = summaryJoin[0];
  const afterSummaryJoin = hub.trace
    .filter((t) => t.dir === "in" && t.frame[2] === a.topic && t.frame[0] === summaryRef)
    .map((t) => t.frame[3]);
  assert.deepEqual([...new Set(afterSummaryJoin)].sort(), ["phx_reply", "summary"], "nothing but summaries");
  assert.equal(a.seq, 1, "a summary join moves no cursor");

  // Re-open A: B is evicted, A joins full with cursor null and gets a snapshot.
  const reopened = hub.session(keyA);
  assert.equal(reopened, a);
  await joinedFull(a);
  await waitFor(() => b.mode === "summary", () => `B evicted (is ${b.mode})`);
  const reopen = frames(hub.trace, "out", "phx_join", a.topic).at(-1);
  assert.equal(reopen[4].cursor, null, "re-open after eviction asks for a snapshot");
  assert.equal(joinReplies(hub.trace, a.topic).at(-1)[4].response.resume, "snapshot");
  assert.equal(a.seq, writer.seq);
  assert.deepEqual(a.state, writer.state);
  assert.deepEqual(
    a.state.todos.map((t) => [t.text, t.done]),
    [
      ["a1", true],
      ["a2", false],
    ],
  );
  for (const join of frames(hub.trace, "out", "phx_join", a.topic)) {
    assert.ok(join[4].cursor === null || join[4].cursor === undefined, `never a cursor for A: ${JSON.stringify(join)}`);
  }
  // And A is live again.
  await a.push("add_todo", { text: "a3" });
  await waitFor(() => writer.seq === a.seq, "the writer to see A's push");
});

test("summaries follow background jobs of an evicted session", T, async () => {
  const hub = makeHub(server, { maxFullJoins: 1 });
  const keyA = randomKey();
  const a = hub.session(keyA);
  await a.push("start_job", { key: "slow", steps: 3, step_ms: 300 });
  hub.session(randomKey());
  await waitFor(() => a.mode === "summary", "A evicted");
  await waitFor(
    () => a.summary?.jobs_running === 1,
    () => `jobs_running 1 (is ${JSON.stringify(a.summary)})`,
  );
  await waitFor(
    () => a.summary?.jobs_running === 0,
    () => `jobs_running 0 once the job ended (is ${JSON.stringify(a.summary)})`,
    5_000,
  );
});
