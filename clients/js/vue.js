// tabhub/vue: a Vue 3 composable over one tabhub session. Its refs follow
// the session and the hub; it unsubscribes when the component unmounts (or
// the effect scope it was called in stops).

import { onScopeDispose, ref, shallowRef, toValue, watch } from "vue";

// Type-only: the client's classes and types, for the JSDoc below.
/** @typedef {import("./tabhub.js").TabHub} TabHub */
/** @typedef {import("./tabhub.js").Status} Status */
/** @typedef {import("./tabhub.js").Mode} Mode */
/** @typedef {import("./tabhub.js").SessionOptions} SessionOptions */
/** @typedef {import("./tabhub.js").TabHubError} TabHubError */
/** @typedef {import("./tabhub.js").EventMap} EventMap */
/** @typedef {import("./tabhub.js").AnyEvents} AnyEvents */

/**
 * What {@link useSession} gives a component: refs (read-only in their
 * types) that follow the session and the hub, and `push`.
 * @template [S=any]
 * @template {EventMap} [E=AnyEvents]
 * @typedef {object} SessionRefs
 * @property {Readonly<import("vue").ShallowRef<S | undefined>>} state The
 *   session's state; `undefined` until the first full join. A shallow ref:
 *   each change is a new object (treat it as immutable).
 * @property {Readonly<import("vue").Ref<Status>>} status The hub's
 *   connection: `"connecting"`, `"open"`, `"offline"` or `"closed"`.
 * @property {Readonly<import("vue").Ref<Mode>>} mode The join: `"joining"`,
 *   `"full"`, `"summary"` or `"closed"`.
 * @property {Readonly<import("vue").Ref<boolean>>} leader Whether this tab
 *   is the session's elected tab.
 * @property {Readonly<import("vue").Ref<number | null>>} tabs Tabs joined
 *   to the session (last known).
 * @property {Readonly<import("vue").ShallowRef<TabHubError | null>>} error
 *   The last join error, if any.
 * @property {Readonly<import("vue").ShallowRef<import("./tabhub.js").Session<S, E>>>} session
 *   The session itself (`onEffect`, `onTask`, `cancel`, `leave`, ...).
 * @property {import("./tabhub.js").Session<S, E>["push"]} push `push(name,
 *   payload)` on the current session.
 */

/**
 * Joins session `key` on `hub` (`hub.session(key, options)`) and returns
 * refs that follow it. `key` may be a string, a ref or a getter: when it
 * changes, the refs follow the new session. Call it in `setup()` (or in an
 * effect scope): when that unmounts (stops), it unsubscribes. The session
 * stays joined in the hub; call `session.value.leave()` to leave it.
 *
 * Make the hub once per page (module scope), not in a component.
 * @template [S=any] The state's type.
 * @template {EventMap} [E=AnyEvents] The app's events (see `Session`):
 *   `push` is checked against them.
 * @param {TabHub} hub
 * @param {import("vue").MaybeRefOrGetter<string | undefined>} [key] The
 *   session key; default `hub.token` (this browser's own session).
 * @param {SessionOptions} [options] `onChain`, `params` (see `hub.session`).
 * @returns {SessionRefs<S, E>}
 * @throws {TypeError} for a malformed key (from `hub.session`).
 */
export function useSession(hub, key, options) {
  /** @param {string | undefined} k */
  const open = (k) => /** @type {import("./tabhub.js").Session<S, E>} */ (hub.session(k ?? hub.token, options));
  const session = shallowRef(open(toValue(key)));
  const state = shallowRef(session.value.state);
  const status = ref(hub.status);
  /** @type {import("vue").Ref<Mode>} */
  const mode = ref(session.value.mode);
  const leader = ref(session.value.leader);
  /** @type {import("vue").Ref<number | null>} */
  const tabs = ref(session.value.tabs);
  /** @type {import("vue").ShallowRef<TabHubError | null>} */
  const error = shallowRef(session.value.error);

  /** @type {(() => void)[]} */
  let stops = [];
  const unbind = () => {
    for (const stop of stops) stop();
    stops = [];
  };
  /** @param {import("./tabhub.js").Session<S, E>} s */
  const bind = (s) => {
    unbind();
    const changed = () => {
      mode.value = s.mode;
      leader.value = s.leader;
      tabs.value = s.tabs;
      error.value = s.error;
    };
    changed();
    stops = [
      s.subscribe((next) => {
        state.value = next;
      }),
      s.onChange(changed),
      hub.onStatus((next) => {
        status.value = next;
      }),
    ];
    status.value = hub.status;
  };
  bind(session.value);
  watch(
    () => toValue(key),
    (k) => {
      session.value = open(k);
      bind(session.value);
    },
  );
  onScopeDispose(unbind);

  /** @type {import("./tabhub.js").Session<S, E>["push"]} */
  const push = (name, payload) => session.value.push(name, payload);
  // Plain refs, read-only in their types: writing to one would only
  // desynchronize it.
  return { state, status, mode, leader, tabs, error, session, push };
}
