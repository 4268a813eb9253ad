"""What the server API answers, as typed values (docs/app-proxy.md, "The
server API"). Each ``from_json`` takes the decoded body and raises
:class:`~tabhub.errors.ApiError` (``unexpected_answer``) when it is not of
the documented shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ApiError


def _unexpected(what: str, body: Any) -> ApiError:
    return ApiError(200, "unexpected_answer", f"expected {what}, got {str(body)[:200]}")


def _obj(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _unexpected(what, body)
    return body


@dataclass(frozen=True)
class EventReply:
    """An event's reply, as a tab gets it.

    ``ok`` with ``seq`` (the session's seq after the event) and ``data``
    (the handler's reply, ``None`` when it gave none); or not ``ok`` with
    ``reason``, ``message`` and ``data`` (the error's data)."""

    ok: bool
    seq: int | None = None
    data: Any = None
    reason: str | None = None
    message: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> EventReply:
        what = '{"status", "response"}'
        reply = _obj(body, what)
        response = _obj(reply.get("response"), what)
        if reply.get("status") == "ok":
            return cls(ok=True, seq=response.get("seq"), data=response.get("data"))
        if reply.get("status") == "error":
            return cls(
                ok=False,
                reason=response.get("reason"),
                message=response.get("message"),
                data=response.get("data"),
            )
        raise _unexpected(what, body)


@dataclass(frozen=True)
class Tab:
    """A tab joined to a session."""

    tab_id: str
    visibility: str
    leader: bool
    joined_ms: int
    """When it joined: Unix time in ms."""


@dataclass(frozen=True)
class Session:
    """`GET .../sessions/{key}`: a session's durable state and its tabs."""

    state: Any
    seq: int
    epoch: str
    tabs: list[Tab]

    @classmethod
    def from_json(cls, body: Any) -> Session:
        b = _obj(body, '{"state", "seq", "epoch", "tabs"}')
        try:
            # Members added by later servers are ignored.
            tabs = [
                Tab(t["tab_id"], t["visibility"], t["leader"], t["joined_ms"]) for t in b["tabs"]
            ]
            return cls(state=b["state"], seq=b["seq"], epoch=b["epoch"], tabs=tabs)
        except (KeyError, TypeError) as e:
            raise _unexpected('{"state", "seq", "epoch", "tabs"}', body) from e


@dataclass(frozen=True)
class SessionRow:
    """One session of ``GET .../sessions``: ``key`` is only the key's short
    form (six characters and ``…``); ``tabs``, ``seq`` and ``epoch`` are
    this node's and only for a ``live`` session (``seq`` and ``epoch`` are
    ``None`` for a stored one); ``last_active_ms`` is Unix time in ms."""

    key: str
    live: bool
    tabs: int
    visible_tabs: int
    seq: int | None
    epoch: str | None
    last_active_ms: int | None


@dataclass(frozen=True)
class SessionPage:
    """A page of ``GET .../sessions``; ``next_cursor`` is ``None`` on the
    last page."""

    sessions: list[SessionRow]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: Any) -> SessionPage:
        b = _obj(body, "a page of sessions")
        try:
            rows = [
                SessionRow(
                    r["key"], r["live"], r["tabs"], r["visible_tabs"], r["seq"], r["epoch"], r["last_active_ms"]
                )
                for r in b["sessions"]
            ]
            return cls(rows, b["next_cursor"])
        except (KeyError, TypeError) as e:
            raise _unexpected('{"sessions": [...], "next_cursor"}', body) from e


@dataclass(frozen=True)
class Stats:
    """`GET .../stats`: this node's counts, now."""

    sessions: int
    connections: int
    tabs: int
    summary_joins: int

    @classmethod
    def from_json(cls, body: Any) -> Stats:
        b = _obj(body, "stats")
        try:
            return cls(b["sessions"], b["connections"], b["tabs"], b["summary_joins"])
        except KeyError as e:
            raise _unexpected('{"sessions", "connections", "tabs", "summary_joins"}', body) from e
