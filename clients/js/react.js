// tabhub/react: a React hook over one tabhub session, built on React's
// useSyncExternalStore (React 18 or later). The client itself needs no
// binding to be a store: a Session's `subscribe` is bound and calls back
// on every change, and `session.state` is a new object after each change
// and the same one in between, which is what useSyncExternalStore asks.

import { useCallback, useMemo, useSyncExternalStore } from "react";

// Type-only: the client's classes and types, for the JSDoc below.
/** @typedef {import("./tabhub.js").TabHub} TabHub */
/** @typedef {import("./tabhub.js").Status} Status */
/** @typedef {import("./tabhub.js").Mode} Mode */
/** @typedef {import("./tabhub.js").SessionOptions} SessionOptions */
/** @typedef {import("./tabhub.js").TabHubError} TabHubError */
/** @typedef {import("./tabhub.js").EventMap} EventMap */
/** @typedef {import("./tabhub.js").AnyEvents} AnyEvents */

/**
 * What {@link useSession} gives a component: the session's state and
 * connection facts as of this render (each one re-renders the component
 * when it changes), and `push`.
 * @template [S=any]
 * @template {EventMap} [E=AnyEvents]
 * @typedef {object} SessionView
 * @property {S | undefined} state The session's state; `undefined` until
 *   the first full join. Treat it as immutable (a change is a new object).
 * @property {Status} status The hub's connection: `"connecting"`, `"open"`,
 *   `"offline"` or `"closed"`.
 * @property {Mode} mode The join: `"joining"`, `"full"`, `"summary"` or `"closed"`.
 * @property {boolean} leader Whether this tab is the session's elected tab.
 * @property {number | null} tabs Tabs joined to the session (last known).
 * @property {TabHubError | null} error The last join error, if any.
 * @property {import("./tabhub.js").Session<S, E>["push"]} push The session's
 *   `push(name, payload)`, typed by `E`: the same function across renders
 *   of one session.
 * @property {import("./tabhub.js").Session<S, E>} session The session itself
 *   (`onEffect`, `onTask`, `cancel`, `leave`, ...).
 */

/**
 * Joins session `key` on `hub` (`hub.session(key, options)`) and keeps the
 * component in step with it: a re-render after each delta, snapshot or
 * replay, and after each change of the hub's status or of the session's
 * mode, leader, tab count or join error.
 *
 * Make the hub once per page (module scope), not in a component. Unmounting
 * unsubscribes; the session stays joined in the hub (other components may
 * show it too): call `session.leave()` to leave it. `options` are read when
 * the hub or key changes, not on every render.
 * @template [S=any] The state's type.
 * @template {EventMap} [E=AnyEvents] The app's events (see `Session`):
 *   `push` is checked against them.
 * @param {TabHub} hub
 * @param {string} [key] The session key; default `hub.token` (this
 *   browser's own session).
 * @param {SessionOptions} [options] `onChain`, `params` (see `hub.session`).
 * @returns {SessionView<S, E>}
 * @throws {TypeError} for a malformed key (from `hub.session`).
 */
export function useSession(hub, key, options) {
  // hub.session is idempotent (the same key gives the same Session), so a
  // render that runs twice (Strict Mode) joins once.
  const session = useMemo(
    () => /** @type {import("./tabhub.js").Session<S, E>} */ (hub.session(key ?? hub.token, options)),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- options are read on a new hub or key only
    [hub, key],
  );
  const onChange = useCallback(
    /** @param {() => void} fn */ (fn) => session.onChange(() => fn()),
    [session],
  );
  const onStatus = useCallback(
    /** @param {() => void} fn */ (fn) => hub.onStatus(() => fn()),
    [hub],
  );
  const state = useSyncExternalStore(session.subscribe, () => session.state, () => session.state);
  const status = useSyncExternalStore(onStatus, () => hub.status, () => hub.status);
  const mode = useSyncExternalStore(onChange, () => session.mode, () => session.mode);
  const leader = useSyncExternalStore(onChange, () => session.leader, () => session.leader);
  const tabs = useSyncExternalStore(onChange, () => session.tabs, () => session.tabs);
  const error = useSyncExternalStore(onChange, () => session.error, () => session.error);
  const push = useMemo(() => session.push.bind(session), [session]);
  return { state, status, mode, leader, tabs, error, push, session };
}
