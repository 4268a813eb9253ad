// tabhub/svelte: what Svelte needs beyond the client itself. A Session is
// already a Svelte store (`$session` is its state: `subscribe` calls back
// at once and on every change, and returns the unsubscribe function); the
// hub's status is not, since `hub.onStatus` calls back on changes only.
// `statusStore(hub)` makes it one, so a component writes `$status`; and
// `infoStore(session)` does the same for the session's join facts (mode,
// leader, tab count, error), so a component writes `$info.tabs`.
// Nothing here imports svelte: the store contract is plain JavaScript.

/** @typedef {import("./tabhub.js").TabHub} TabHub */
/** @typedef {import("./tabhub.js").Status} Status */
/** @typedef {import("./tabhub.js").Mode} Mode */
/** @typedef {import("./tabhub.js").TabHubError} TabHubError */

/**
 * A readable store (the Svelte store contract) of a value.
 * @template T
 * @typedef {{subscribe(run: (value: T) => void, invalidate?: () => void): () => void}} Readable
 */

/**
 * The hub's connection status as a Svelte store: `$status` is
 * `"connecting"`, `"open"`, `"offline"` or `"closed"`, and follows
 * `hub.status`. Each subscriber gets the current status at once, then every
 * change, until it unsubscribes (a component does when it is destroyed).
 * @param {TabHub} hub
 * @returns {Readable<Status>}
 */
export function statusStore(hub) {
  return {
    subscribe(run) {
      const unsubscribe = hub.onStatus(run);
      run(hub.status);
      return unsubscribe;
    },
  };
}

/**
 * A session's join facts, as `$info` gives them (a new object after each
 * change).
 * @typedef {object} SessionInfo
 * @property {Mode} mode `"joining"`, `"full"`, `"summary"` or `"closed"`.
 * @property {boolean} leader Whether this tab is the session's elected tab.
 * @property {number | null} tabs Tabs joined to the session (last known).
 * @property {TabHubError | null} error The last join error, if any.
 */

/**
 * A session's mode, leader flag, tab count and join error as a Svelte
 * store: each subscriber gets them at once, then after every change
 * (`session.onChange`), until it unsubscribes. The state itself is
 * `$session`.
 * @param {import("./tabhub.js").Session<any, any>} session
 * @returns {Readable<SessionInfo>}
 */
export function infoStore(session) {
  /** @returns {SessionInfo} */
  const info = () => ({
    mode: session.mode,
    leader: session.leader,
    tabs: session.tabs,
    error: session.error,
  });
  return {
    subscribe(run) {
      const unsubscribe = session.onChange(() => run(info()));
      run(info());
      return unsubscribe;
    },
  };
}
