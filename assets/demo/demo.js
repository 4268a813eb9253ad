// tabhub demo page: one session (this browser tab's client token) rendered
// live. Plain ES module, no build step; the client is /tabhub.js
// (docs/client-api.md).

import { TabHub } from "/tabhub.js";

const TOAST_MS = 4000;
/**
 * How long a push waits for its reply, offline time included, before the
 * client gives up on it (passed to the client so the page can say so).
 */
const PUSH_TIMEOUT_MS = 30_000;
/** The server's limit on a todo's text (src/demo.rs), for the error sentence. */
const MAX_TODO_CHARS = 100_000;

/** @param {string} id */
const byTestId = (id) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${id}"]`));

const els = {
  status: byTestId("status"),
  tabId: byTestId("tab-id"),
  leader: byTestId("leader"),
  tabs: byTestId("tabs"),
  hereItem: byTestId("here-item"),
  here: byTestId("here"),
  seq: byTestId("seq"),
  epoch: byTestId("epoch"),
  resume: byTestId("resume"),
  sessionKey: byTestId("session-key"),
  todoForm: /** @type {HTMLFormElement} */ (byTestId("todo-form")),
  todoInput: /** @type {HTMLInputElement} */ (byTestId("todo-input")),
  todoList: byTestId("todo-list"),
  todoEmpty: byTestId("todo-empty"),
  todoCount: byTestId("todo-count"),
  todoMessage: byTestId("form-message"),
  sessionNotice: byTestId("session-notice"),
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
  toastMessage: byTestId("toast-form-message"),
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

const hub = new TabHub({ pushTimeoutMs: PUSH_TIMEOUT_MS });
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

/**
 * @param {string} text
 * @param {"toast" | "error"} [kind]
 * @param {{reason?: string, detail?: string}} [about] an error's reason code
 *   (kept in data-reason, never shown) and the server's own words (a tooltip)
 */
function showToast(text, kind = "toast", about = {}) {
  const node = h("div", { class: kind === "error" ? "toast error" : "toast", "data-testid": kind }, [text]);
  if (about.reason) node.dataset.reason = about.reason;
  if (about.detail) node.title = about.detail;
  els.toasts.append(node);
  setTimeout(() => node.remove(), TOAST_MS);
}

// ---------------------------------------------------------------------------
// Error sentences
//
// A push or join that fails carries a reason code (docs/protocol.md section
// 15, src/protocol/reason.rs, the client's own in tabhub.js, and this app's
// `too_long`). People get a sentence; the code stays in data-reason.

const seconds = Math.round(PUSH_TIMEOUT_MS / 1000);

/** @type {Record<string, string | ((data: any) => string)>} */
const REASON_TEXT = {
  // The demo app's own reason.
  too_long: (data) =>
    `That is too long: a todo can have at most ${Number(data?.max ?? MAX_TODO_CHARS).toLocaleString("en")} characters.`,
  // Event replies.
  invalid_payload: "The server could not accept that input, so nothing changed.",
  unknown_event: "The server does not know that action; this page may be older than the server.",
  handler_error: "The server could not carry that out (another tab may have changed it first), so nothing changed.",
  queue_full: "The server is still busy with this session's earlier changes. Try again in a moment.",
  rate_limited: "That was too many actions too quickly. Wait a moment and try again.",
  summary_only: "This tab only follows a summary of the session right now, so it cannot change it.",
  "unmatched topic": "This tab was not joined to the session at that moment. Try again once it shows Connected.",
  // Join replies.
  unauthorized: "The server did not let this tab open the session.",
  invalid_key: "This tab's session key is malformed, so the server refused it.",
  too_many_tabs: "This session already has as many tabs as it allows. Close one of them and this tab will join.",
  too_many_joins: "This connection has joined as many sessions as it may.",
  capacity: "The server is full or shutting down. This tab keeps trying to join.",
  new_key: "The server moved this tab to a new, empty session.",
  store_error: "The server could not load or save this session's data. This tab keeps trying.",
  // The client's own.
  timeout: `No reply came within ${seconds} seconds, so this tab stopped waiting. The change may still have been made.`,
  left: "This tab has left the session.",
  closed: "This tab's session is closed. Reload the page to join it again.",
  disconnected: "This tab disconnected before the server replied.",
  replaced: "A newer connection of this tab took over. Reload the page to go on here.",
  policy: "The server refused this connection.",
};

/** A server message as a sentence: capital first letter, a full stop. @param {string} text */
function asSentence(text) {
  const t = text.trim();
  if (!t) return "";
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/**
 * What to tell a person about a failed push or join: a sentence for each
 * known reason, else the server's message, else a plain fallback.
 * @param {unknown} err
 * @returns {{text: string, reason: string, detail: string}}
 */
function describeError(err) {
  const e = /** @type {{reason?: unknown, message?: unknown, data?: unknown}} */ (err ?? {});
  const reason = typeof e.reason === "string" ? e.reason : "";
  const message = typeof e.message === "string" ? e.message : "";
  // TabHubError falls back to the reason as its message: that is no detail.
  const detail = message && message !== reason ? message : "";
  const known = Object.hasOwn(REASON_TEXT, reason) ? REASON_TEXT[reason] : undefined;
  let text;
  if (typeof known === "function") text = known(e.data);
  else if (known) text = known;
  else if (detail) text = asSentence(detail);
  else text = "Something went wrong, and the server did not say what.";
  return { text, reason, detail };
}

/** @param {unknown} err */
function showError(err) {
  const { text, reason, detail } = describeError(err);
  showToast(text, "error", { reason, detail });
}

/**
 * Pushes an event; a failure goes to `onError`, by default an error toast.
 * @param {string} name
 * @param {any} payload
 * @param {(err: unknown) => void} [onError]
 */
async function push(name, payload, onError = showError) {
  try {
    return await session.push(name, payload);
  } catch (err) {
    onError(err);
    return null;
  }
}

/**
 * Sets (or, with empty text, clears) a form's message line, and marks its
 * input invalid for a "hint" about what was typed.
 * @param {HTMLElement} line
 * @param {HTMLInputElement} input
 * @param {string} text
 * @param {"hint" | "error"} [kind]
 * @param {{reason?: string, detail?: string}} [about]
 */
function setFormMessage(line, input, text, kind = "hint", about = {}) {
  line.textContent = text;
  line.dataset.kind = text ? kind : "";
  if (about.reason) line.dataset.reason = about.reason;
  else delete line.dataset.reason;
  line.title = about.detail ?? "";
  if (text && kind === "hint") input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** A short quote of what was typed, for a message. @param {string} text */
function quote(text) {
  return `“${text.length > 40 ? `${text.slice(0, 40)}…` : text}”`;
}

// ---------------------------------------------------------------------------
// Status bar

function renderStatus() {
  const status = hub.status;
  els.status.dataset.state = status;
  els.status.textContent = STATUS_TEXT[status] ?? status;
  els.status.title =
    status === "open"
      ? ""
      : `Changes made now wait in this tab and are sent once connected; after ${seconds} seconds without a reply the tab gives up on them.`;
  renderPending();
}

/** A join refusal, said in a sentence above the status bar until a join succeeds. */
function renderNotice() {
  const err = session.error;
  if (!err) {
    els.sessionNotice.hidden = true;
    els.sessionNotice.textContent = "";
    delete els.sessionNotice.dataset.reason;
    return;
  }
  const { text, reason, detail } = describeError(err);
  els.sessionNotice.textContent = text;
  els.sessionNotice.dataset.reason = reason;
  els.sessionNotice.title = detail;
  els.sessionNotice.hidden = false;
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
  const remove = h("button", { type: "button", class: "icon", "data-testid": "todo-remove" }, ["×"]);
  const mark = h("span", { class: "pending-label", "data-testid": "todo-item-pending", hidden: "" }, ["pending"]);
  const li = h("li", { class: "todo-item", "data-testid": "todo-item", "data-id": id }, [
    h("label", {}, [box, h("span", { class: "todo-text", "data-testid": "todo-text" })]),
    mark,
    remove,
  ]);
  box.addEventListener("change", async () => {
    if (!(await whilePending(li, push("toggle_todo", { id })))) render(session.state);
  });
  remove.addEventListener("click", () => whilePending(li, push("remove_todo", { id })));
  return li;
}

/**
 * Marks a listed todo pending (greyed, labelled) while a push about it
 * waits for its reply, and returns the push's outcome.
 * @template T
 * @param {HTMLElement} li
 * @param {Promise<T>} pushed
 */
async function whilePending(li, pushed) {
  const count = Number(li.dataset.pushes ?? 0) + 1;
  li.dataset.pushes = String(count);
  showItemPending(li);
  try {
    return await pushed;
  } finally {
    li.dataset.pushes = String(Number(li.dataset.pushes) - 1);
    showItemPending(li);
  }
}

/** @param {HTMLElement} li */
function showItemPending(li) {
  const busy = Number(li.dataset.pushes ?? 0) > 0;
  li.classList.toggle("pending", busy);
  if (busy) li.setAttribute("aria-busy", "true");
  else li.removeAttribute("aria-busy");
  const mark = /** @type {HTMLElement} */ (li.querySelector(".pending-label"));
  mark.hidden = !busy;
  li.title = busy ? `This change is not saved yet: ${pendingNote()}.` : "";
}

/** @param {HTMLElement} li @param {{text: string, done: boolean}} todo */
function updateTodo(li, todo) {
  li.classList.toggle("done", todo.done);
  li.dataset.done = String(todo.done);
  /** @type {HTMLInputElement} */ (li.querySelector("input")).checked = todo.done;
  /** @type {HTMLElement} */ (li.querySelector(".todo-text")).textContent = todo.text;
  li.querySelector("button")?.setAttribute("aria-label", `Remove “${todo.text}”`);
}

// A todo sent but not answered yet is listed after the real ones, greyed and
// marked pending: the client holds pushes made while offline and sends them
// after the rejoin. Its reply comes after its delta, so by then the real
// item is listed and the pending one goes; a refusal removes it and says why.

/** @type {Set<HTMLElement>} */
const pendingTodos = new Set();

/** @param {string} text */
function addPending(text) {
  const li = h("li", { class: "todo-item pending", "data-testid": "todo-pending", "aria-busy": "true" }, [
    h("span", { class: "pending-box", "aria-hidden": "true" }),
    h("span", { class: "todo-text", "data-testid": "todo-pending-text" }, [text]),
    h("span", { class: "pending-label", "data-testid": "todo-pending-label" }, ["pending"]),
    h("span", { class: "pending-note", "data-testid": "todo-pending-note" }),
  ]);
  pendingTodos.add(li);
  els.todoList.append(li); // after the real items, which reconcile keeps first
  renderPending();
  renderTodoEmpty();
  return li;
}

/** @param {HTMLElement} li */
function removePending(li) {
  pendingTodos.delete(li);
  li.remove();
  renderTodoEmpty();
}

/** What a pending push waits for: the connection, or the server's reply. */
function pendingNote() {
  return hub.status === "open" ? "waiting for the server" : "sent when the connection is back";
}

/** Says what each pending todo waits for. */
function renderPending() {
  const note = pendingNote();
  for (const li of pendingTodos) {
    /** @type {HTMLElement} */ (li.querySelector(".pending-note")).textContent = note;
    li.title = `Not saved yet: ${note}. After ${seconds} seconds without a reply this tab gives up on it.`;
  }
  for (const li of todoNodes.values()) if (li.classList.contains("pending")) showItemPending(li);
}

els.todoForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = els.todoInput.value.trim();
  if (!text) {
    const typed = els.todoInput.value !== "";
    setFormMessage(
      els.todoMessage,
      els.todoInput,
      typed
        ? "Type something first: a todo of only spaces is not added."
        : "Type something first: a blank todo is not added.",
    );
    els.todoInput.focus();
    return;
  }
  setFormMessage(els.todoMessage, els.todoInput, "");
  els.todoInput.value = "";
  const li = addPending(text);
  /** @type {unknown} */
  let failure = null;
  await push("add_todo", { text }, (err) => (failure = err));
  removePending(li);
  if (failure === null) return;
  const { text: why, reason, detail } = describeError(failure);
  setFormMessage(els.todoMessage, els.todoInput, `${quote(text)} was not added. ${why}`, "error", { reason, detail });
  // A refused todo comes back for editing (unless something new was typed);
  // after a timeout it may have been added after all, so it does not.
  const definite = reason !== "timeout";
  if (definite && els.todoInput.value === "") els.todoInput.value = text;
});

els.todoInput.addEventListener("input", () => {
  if (els.todoMessage.dataset.kind === "hint") setFormMessage(els.todoMessage, els.todoInput, "");
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
  if (!text) {
    setFormMessage(els.toastMessage, els.toastInput, "Type something first: a blank toast is not sent.");
    els.toastInput.focus();
    return;
  }
  setFormMessage(els.toastMessage, els.toastInput, "");
  push("toast", { text });
});

els.toastInput.addEventListener("input", () => {
  if (els.toastMessage.dataset.kind === "hint") setFormMessage(els.toastMessage, els.toastInput, "");
});

// ---------------------------------------------------------------------------
// Wiring

/** @param {any} state */
function render(state) {
  const known = state !== undefined; // no "empty" notes before the first join
  const todos = state?.todos ?? [];
  reconcile(els.todoList, todoNodes, todos.map((t) => [t.id, t]), createTodo, updateTodo);
  renderTodoEmpty();
  const open = todos.filter((t) => !t.done).length;
  els.todoCount.textContent = todos.length ? `${open} of ${todos.length} open` : "";

  const jobs = Object.entries(state?.jobs ?? {});
  reconcile(els.jobList, jobNodes, jobs, createJob, updateJob);
  els.jobEmpty.hidden = !known || jobs.length > 0;

  els.chainCount.textContent = String(state?.chain_count ?? 0);
  renderHere(state?.here);
}

/**
 * Who has this session open (the server's presence list, `here`: the
 * binary's demo keeps it unless --no-demo-presence), one chip per tab,
 * dimmed while its page is hidden. Absent list: the item stays hidden.
 * @param {{tab: string, visible: boolean}[] | undefined} here
 */
function renderHere(here) {
  els.hereItem.hidden = here === undefined;
  const chips = (here ?? []).map(({ tab, visible }) => {
    const you = tab === hub.tabId;
    const label = `${you ? "this tab" : tab.slice(0, 6)}${visible ? "" : " (hidden)"}`;
    const chip = h("li", { "data-tab": tab, "data-visible": String(visible), title: tab }, [label]);
    if (you) chip.dataset.you = "true";
    return chip;
  });
  els.here.replaceChildren(...chips);
}

/** The "nothing to do" note: once the state is known, with no todo, real or pending. */
function renderTodoEmpty() {
  const known = session.state !== undefined;
  els.todoEmpty.hidden = !known || todoNodes.size + pendingTodos.size > 0;
}

session.subscribe((state) => {
  render(state);
  renderMeta();
});
session.onChange(() => {
  renderMeta();
  renderNotice();
});
session.onEffect(({ kind, data }) => {
  if (kind === "toast") showToast(String(data?.text ?? ""));
});
hub.onStatus(renderStatus);

renderStatus();
renderMeta();
renderNotice();
render(session.state);
hub.connect();
