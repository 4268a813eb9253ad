"""The sync client of tabhub's server API (docs/app-proxy.md, "The
server API"), on ``httpx.Client``."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Literal

import httpx

from . import _base, _routes
from ._routes import ABSENT, Patch
from .errors import ApiError, Unreachable
from .models import EventReply, Session, SessionPage, Stats
from .retry import Retry


class Client:
    """Drives tabhub's sessions by key through its server API.

    ``api_url`` is the API with its prefix (``http://127.0.0.1:4000/api``),
    ``token`` tabhub's ``--api-token``. Calls answered ``503`` or not
    answered are retried as ``retry`` says (:class:`~tabhub.retry.Retry`);
    ``timeout_s`` bounds each try. ``http`` replaces the httpx client (its
    base URL and headers are then the caller's).

    Every method raises :class:`~tabhub.errors.ApiError` when tabhub
    refuses (its ``status`` and ``reason``), :class:`~tabhub.errors.TaskGone`
    on ``410``, :class:`~tabhub.errors.Unreachable` when no try got an
    answer. Use it as ``with Client(...) as api:``, or call
    :meth:`close`.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        retry: Retry | None = None,
        timeout_s: float = _base.DEFAULT_TIMEOUT_S,
        http: httpx.Client | None = None,
    ) -> None:
        self.retry = retry or Retry()
        self._http = http or httpx.Client(**_base.settings(api_url, token), timeout=timeout_s)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def submit_event(
        self, key: str, name: str, payload: Any = None, *, id: str | None = None
    ) -> EventReply:
        """Submits event `name` through session `key`'s queue and returns its
        reply. Idempotent by `id` (a fresh uuid4 when not given, kept across
        retries): a repeated id gets the first one's reply, and the event
        happens once."""
        return self._run(_routes.submit_event(key, name, payload, id))  # type: ignore[no-any-return]

    def change_state(
        self,
        key: str,
        *,
        patch: Patch | None = None,
        state: Any = ABSENT,
        summary: Any = None,
        task: str | None = None,
    ) -> int:
        """Pushes one change (a `patch`, or the whole `state`) and/or a
        `summary` to session `key`; returns the session's seq after it. With
        `task`, it is that task's progress: :class:`TaskGone` once it ended.
        ``422 invalid_change`` when the patch does not apply."""
        return self._run(_routes.change_state(key, patch, state, summary, task))  # type: ignore[no-any-return]

    def send_effect(self, key: str, kind: str, data: Any = None, *, tab: str | None = None) -> None:
        """Sends an effect to every tab of session `key`, or to tab `tab`."""
        self._run(_routes.send_effect(key, kind, data, tab))

    def end_task(
        self,
        key: str,
        task: str,
        status: Literal["done", "failed"] = "done",
        *,
        error: str | None = None,
        patch: Patch | None = None,
        state: Any = ABSENT,
        summary: Any = None,
    ) -> int:
        """Ends task `task` (with a change and a summary, in one step);
        returns the seq. :class:`TaskGone` if the task is not running."""
        call = _routes.end_task(key, task, status, error, (patch, state, summary))
        return self._run(call)  # type: ignore[no-any-return]

    def cancel_task(self, key: str, task: str) -> bool:
        """Cancels task `task`; whether it was running."""
        return self._run(_routes.cancel_task(key, task))  # type: ignore[no-any-return]

    def read_session(self, key: str) -> Session:
        """Session `key`'s durable state, seq, epoch and tabs."""
        return self._run(_routes.read_session(key))  # type: ignore[no-any-return]

    def stop_session(self, key: str) -> bool:
        """Saves and stops session `key`; whether it was live."""
        return self._run(_routes.stop_session(key))  # type: ignore[no-any-return]

    def delete_session(self, key: str) -> bool:
        """Forgets session `key`; whether the store kept anything of it."""
        return self._run(_routes.delete_session(key))  # type: ignore[no-any-return]

    def list_sessions(
        self, *, live: bool = False, limit: int = 100, cursor: str | None = None
    ) -> SessionPage:
        """A page of sessions (docs/app-proxy.md, "Listing sessions"): the
        store's, most recently active first, or with ``live`` this node's
        live ones; pass the page's ``next_cursor`` as ``cursor`` for the
        next."""
        return self._run(_routes.list_sessions(live, limit, cursor))  # type: ignore[no-any-return]

    def stats(self) -> Stats:
        """This node's live sessions, sockets, tabs and summary joins."""
        return self._run(_routes.stats())  # type: ignore[no-any-return]

    def _run(self, call: _routes.Call) -> Any:
        attempt = 1
        while True:
            try:
                response = self._http.request(**_base.request_args(call))
                return _base.outcome(call, response)
            except httpx.TransportError as e:
                error: ApiError = Unreachable(e)
                error.__cause__ = e
            except ApiError as e:
                error = e
            delay = _base.next_delay(self.retry, attempt, error, call)
            if delay is None:
                raise error
            time.sleep(delay)
            attempt += 1
