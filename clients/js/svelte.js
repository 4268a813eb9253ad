// tabhub/svelte: what Svelte needs beyond the client itself. A Session is
// already a Svelte store (`$session` is its state: `subscribe` calls back
// at once and on every change, and returns the unsubscribe function); the
// hub's status is not, since `hub.onStatus` calls back on changes only.
// `statusStore(hub)` makes it one, so a component writes `$status`.
// Nothing here imports svelte: the store contract is plain JavaScript.

/** @typedef {import("./tabhub.js").TabHub} TabHub */
/** @typedef {import("./tabhub.js").Status} Status */

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
