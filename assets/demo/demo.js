// tabhub demo page: one session (this browser tab's client token) rendered
// live. Plain ES module, no build step; the client is /tabhub.js
// (docs/client-api.md).

import { TabHub } from "/tabhub.js";

const TOAST_MS = 4000;

/** @param {string} id */
const byTestId = (id) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${id}"]`));

const els = {
  status: byTestId("status"),
  tabId: byTestId("tab-id"),
  leader: byTestId("leader"),
  tabs: byTestId("tabs"),
  seq: byTestId("seq"),
  epoch: byTestId("epoch"),
  resume: byTestId("resume"),
  sessionKey: byTestId("session-key"),
  todoForm: /** @type {HTMLFormElement} */ (byTestId("todo-form")),
  todoInput: /** @type {HTMLInputElement} */ (byTestId("todo-input")),
  todoList: byTestId("todo-list"),
  todoEmpty: byTestId("todo-empty"),
  todoCount: byTestId("todo-count"),
  jobForm: /** @type {HTMLFormElement} */ (byTestId("job-form")),
  jobKey: /** @type {HTMLInputElement} */ (byTestId("job-key")),
  jobList: byTestId("job-list"),
  jobEmpty: byTestId("job-empty"),
  chainCount: byTestId("chain-count"),
  chainStart: /** @type {HTMLButtonElement} */ (byTestId("chain-start")),
  chainAsk: /** @type {HTMLInputElement} */ (byTestId("chain-ask")),
  chainPending: byTestId("chain-pending"),
  chainReceived: byTestId("chain-received"),
  toastForm: /** @type {HTMLFormElement} */ (byTestId("toast-form")),
  toastInput: /** @type {HTMLInputElement} */ (byTestId("toast-input")),
  toasts: byTestId("toasts"),
};

/** What the status bar says for each `hub.status` (kept in data-state). */
const STATUS_TEXT = {
  connecting: "Connecting…",
  open: "Connected",
  offline: "Offline",
  closed: "Closed",
};

let chainsReceived = 0;

const hub = new TabHub();
const session = hub.session(hub.token, { onChain });
// Handy in the console (and for the browser tests): the live objects.
Object.assign(window, { tabhubDemo: { hub, session } });

// ---------------------------------------------------------------------------
// Small DOM helpers

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children]
 */
function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/**
 * Keeps `list`'s children in the order of `items`, creating, updating and
 * removing nodes by key so focus and animations survive updates.
 * @template T
 * @param {HTMLElement} list
 * @param {Map<string, HTMLElement>} nodes
 * @param {[string, T][]} items
 * @param {(key: string, item: T) => HTMLElement} create
 * @param {(node: HTMLElement, item: T) => void} update
 */
function reconcile(list, nodes, items, create, update) {
  const seen = new Set();
  items.forEach(([key, item], i) => {
    let node = nodes.get(key);
    if (!node) {
      node = create(key, item);
      nodes.set(key, node);
    }
    update(node, item);
    seen.add(key);
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
  for (const [key, node] of nodes) {
    if (!seen.has(key)) {
      node.remove();
      nodes.delete(key);
    }
  }
}

/** @param {string} text @param {"toast" | "error"} [kind] */
function showToast(text, kind = "toast") {
  const node = h("div", { class: kind === "error" ? "toast error" : "toast", "data-testid": kind }, [text]);
  els.toasts.append(node);
  setTimeout(() => node.remove(), TOAST_MS);
}

/** @param {unknown} err */
function showError(err) {
  const e = /** @type {{reason?: string, message?: string}} */ (err ?? {});
  showToast(e.reason ? `${e.reason}: ${e.message ?? ""}` : String(e.message ?? err), "error");
}

/** Pushes an event; failures become an error toast. */
async function push(name, payload) {
  try {
    return await session.push(name, payload);
  } catch (err) {
    showError(err);
    return null;
  }
}

// ---------------------------------------------------------------------------
// Status bar

function renderStatus() {
  const status = hub.status;
  els.status.dataset.state = status;
  els.status.textContent = STATUS_TEXT[status] ?? status;
}

function renderMeta() {
  els.tabId.textContent = hub.tabId;
  els.tabId.title = hub.tabId;
  const leader = Boolean(session.leader);
  els.leader.dataset.leader = String(leader);
  els.leader.textContent = leader ? "Leader" : "Follower";
  els.tabs.textContent = String(session.tabs ?? 0);
  els.seq.textContent = String(session.seq ?? 0);
  els.epoch.textContent = session.epoch ?? "–";
  els.epoch.title = session.epoch ?? "";
  els.resume.textContent = session.resume ?? "–";
  els.sessionKey.textContent = `${session.key.slice(0, 8)}…`;
}

// ---------------------------------------------------------------------------
// Todos

/** @type {Map<string, HTMLElement>} */
const todoNodes = new Map();

/** @param {string} id */
function createTodo(id) {
  const box = h("input", { type: "checkbox", "data-testid": "todo-toggle" });
  box.addEventListener("change", async () => {
    if (!(await push("toggle_todo", { id }))) render(session.state);
  });
  const remove = h("button", { type: "button", class: "icon", "data-testid": "todo-remove" }, ["×"]);
  remove.addEventListener("click", () => push("remove_todo", { id }));
  return h("li", { class: "todo-item", "data-testid": "todo-item", "data-id": id }, [
    h("label", {}, [box, h("span", { class: "todo-text", "data-testid": "todo-text" })]),
    remove,
  ]);
}

/** @param {HTMLElement} li @param {{text: string, done: boolean}} todo */
function updateTodo(li, todo) {
  li.classList.toggle("done", todo.done);
  li.dataset.done = String(todo.done);
  /** @type {HTMLInputElement} */ (li.querySelector("input")).checked = todo.done;
  /** @type {HTMLElement} */ (li.querySelector(".todo-text")).textContent = todo.text;
  li.querySelector("button")?.setAttribute("aria-label", `Remove “${todo.text}”`);
}

els.todoForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = els.todoInput.value.trim();
  if (!text) return;
  els.todoInput.value = "";
  if (!(await push("add_todo", { text }))) els.todoInput.value = text;
});

// ---------------------------------------------------------------------------
// Jobs

/** @type {Map<string, HTMLElement>} */
const jobNodes = new Map();

/** @param {string} key */
function createJob(key) {
  const cancel = h("button", { type: "button", class: "small", "data-testid": "cancel" }, ["Cancel"]);
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await session.cancel(key);
    } catch (err) {
      showError(err);
    } finally {
      cancel.disabled = false;
    }
  });
  const progress = h("progress", { "data-testid": "progress", "aria-label": `Progress of ${key}` });
  return h("li", { class: "job", "data-testid": `job-${key}`, "data-key": key }, [
    h("div", { class: "job-top" }, [
      h("span", { class: "job-name" }, [key]),
      h("span", { class: "pill", "data-testid": "job-status" }),
      cancel,
    ]),
    h("div", { class: "job-bottom" }, [progress, h("span", { class: "progress-text", "data-testid": "progress-text" })]),
  ]);
}

/** @param {HTMLElement} li @param {{progress: number, steps: number, status: string}} job */
function updateJob(li, job) {
  li.dataset.status = job.status;
  li.dataset.progress = String(job.progress);
  const progress = /** @type {HTMLProgressElement} */ (li.querySelector("progress"));
  progress.max = job.steps;
  progress.value = job.progress;
  const pill = /** @type {HTMLElement} */ (li.querySelector(".pill"));
  pill.dataset.status = job.status;
  pill.textContent = job.status;
  /** @type {HTMLElement} */ (li.querySelector(".progress-text")).textContent = `${job.progress} / ${job.steps}`;
  const cancel = /** @type {HTMLButtonElement} */ (li.querySelector("button"));
  cancel.hidden = job.status !== "running";
}

els.jobForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(els.jobForm);
  const key = String(form.get("key") ?? "").trim();
  const ok = await push("start_job", {
    key,
    steps: Number(form.get("steps")),
    step_ms: Number(form.get("step_ms")),
  });
  // Suggest a fresh key for the next job (unless the user typed meanwhile).
  if (ok && els.jobKey.value.trim() === key) els.jobKey.value = freshJobKey();
});

/** The first `job-N` that names no job yet. */
function freshJobKey() {
  const jobs = session.state?.jobs ?? {};
  let n = 1;
  while (`job-${n}` in jobs) n += 1;
  return `job-${n}`;
}

// ---------------------------------------------------------------------------
// Chains

/**
 * Called for every chained event sent to this tab; its return value is the
 * payload the client re-submits. With "ask me" checked, the step waits for
 * a click: the client-side step of the pattern.
 * @param {{chain: string, name: string, payload: any}} chain
 */
function onChain({ chain, name, payload }) {
  chainsReceived += 1;
  els.chainReceived.textContent = String(chainsReceived);
  if (!els.chainAsk.checked) return Promise.resolve(payload);
  return new Promise((resolve) => {
    const go = h("button", { type: "button", class: "small", "data-testid": "chain-continue" }, ["Continue"]);
    const label = payload && typeof payload.n === "number" ? `${name} (${payload.n} left)` : name;
    const li = h("li", { "data-testid": "chain-waiting", "data-chain": chain }, [h("span", {}, [`${label} is waiting`]), go]);
    go.addEventListener("click", () => {
      li.remove();
      resolve(payload);
    });
    els.chainPending.append(li);
  });
}

els.chainStart.addEventListener("click", () => push("chain_demo", { n: 3 }));

// ---------------------------------------------------------------------------
// Toasts

els.toastForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = els.toastInput.value.trim();
  if (text) push("toast", { text });
});

// ---------------------------------------------------------------------------
// Wiring

/** @param {any} state */
function render(state) {
  const known = state !== undefined; // no "empty" notes before the first join
  const todos = state?.todos ?? [];
  reconcile(els.todoList, todoNodes, todos.map((t) => [t.id, t]), createTodo, updateTodo);
  els.todoEmpty.hidden = !known || todos.length > 0;
  const open = todos.filter((t) => !t.done).length;
  els.todoCount.textContent = todos.length ? `${open} of ${todos.length} open` : "";

  const jobs = Object.entries(state?.jobs ?? {});
  reconcile(els.jobList, jobNodes, jobs, createJob, updateJob);
  els.jobEmpty.hidden = !known || jobs.length > 0;

  els.chainCount.textContent = String(state?.chain_count ?? 0);
}

session.subscribe((state) => {
  render(state);
  renderMeta();
});
session.onChange(renderMeta);
session.onEffect(({ kind, data }) => {
  if (kind === "toast") showToast(String(data?.text ?? ""));
});
hub.onStatus(renderStatus);

renderStatus();
renderMeta();
render(session.state);
hub.connect();
