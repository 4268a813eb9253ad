"""The server API's routes as request descriptions, shared by the async
and the sync client: each function gives the method, the path (relative
to the API's base URL), the JSON body, whether repeating it is harmless,
and how to read the answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import jsonpatch

from .models import EventReply, Session, SessionPage, Stats

#: A JSON patch (RFC 6902): a list of operation objects, or a
#: ``jsonpatch.JsonPatch``.
Patch = Sequence[dict[str, Any]] | jsonpatch.JsonPatch


@dataclass(frozen=True)
class Call:
    """One server API request."""

    method: Literal["GET", "POST", "DELETE"]
    path: str
    body: dict[str, Any] | None
    idempotent: bool
    read: Callable[[Any], Any]


def seg(text: str) -> str:
    """One URL path segment, percent-encoded (`job/1` -> `job%2F1`)."""
    return quote(text, safe="")


def session(key: str, *rest: str) -> str:
    return "/".join(["sessions", seg(key), *rest])


def patch_ops(patch: Patch) -> list[dict[str, Any]]:
    """The operations of `patch` as JSON objects."""
    if isinstance(patch, jsonpatch.JsonPatch):
        return list(patch.patch)
    return [dict(op) for op in patch]


#: Marks an argument not given (a `state` of `None` is the JSON `null`).
ABSENT: Any = object()


def change_body(patch: Patch | None, state: Any, summary: Any) -> dict[str, Any]:
    """`{"patch"}` or `{"state"}`, and `"summary"`, as given."""
    has_state = state is not ABSENT
    if patch is not None and has_state:
        raise ValueError("give a patch or a state, not both")
    body: dict[str, Any] = {}
    if patch is not None:
        body["patch"] = patch_ops(patch)
    if has_state:
        body["state"] = state
    if summary is not None:
        body["summary"] = summary
    return body


def submit_event(key: str, name: str, payload: Any, event_id: str | None) -> Call:
    # The id makes the call idempotent: a retry with it is answered by
    # tabhub from its record of the first, never handled twice.
    body = {"id": event_id or str(uuid.uuid4()), "name": name, "payload": payload}
    return Call("POST", session(key, "events"), body, True, EventReply.from_json)


def change_state(
    key: str, patch: Patch | None, state: Any, summary: Any, task: str | None
) -> Call:
    body = change_body(patch, state, summary)
    if not body:
        raise ValueError("give a patch, a state or a summary")
    if task is not None:
        body["task"] = task
    return Call("POST", session(key, "state"), body, False, _seq)


def send_effect(key: str, kind: str, data: Any, tab: str | None) -> Call:
    body: dict[str, Any] = {"kind": kind, "data": data}
    if tab is not None:
        body["tab"] = tab
    return Call("POST", session(key, "effects"), body, False, lambda _: None)


def end_task(
    key: str,
    task: str,
    status: Literal["done", "failed"],
    error: str | None,
    change: tuple[Patch | None, Any, Any],
) -> Call:
    body = change_body(*change)
    body["status"] = status
    if error is not None:
        body["error"] = error
    return Call("POST", session(key, "tasks", seg(task), "end"), body, False, _seq)


def cancel_task(key: str, task: str) -> Call:
    path = session(key, "tasks", seg(task), "cancel")
    return Call("POST", path, None, True, lambda b: bool(b["cancelled"]))


def read_session(key: str) -> Call:
    return Call("GET", session(key), None, True, Session.from_json)


def stop_session(key: str) -> Call:
    return Call("POST", session(key, "stop"), None, True, lambda b: bool(b["was_live"]))


def delete_session(key: str) -> Call:
    return Call("DELETE", session(key), None, True, lambda b: bool(b["deleted"]))


def stats() -> Call:
    return Call("GET", "stats", None, True, Stats.from_json)


def list_sessions(live: bool, limit: int, cursor: str | None) -> Call:
    query = f"sessions?limit={limit}" + ("&live=true" if live else "")
    if cursor is not None:
        query += f"&cursor={quote(cursor, safe='')}"
    return Call("GET", query, None, True, SessionPage.from_json)


def _seq(body: Any) -> int:
    return int(body["seq"])
