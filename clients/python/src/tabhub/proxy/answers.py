"""What a backend answers tabhub (docs/app-proxy.md): event errors, effect
targets, join decisions."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ValidationError

#: Where an effect goes: the submitting tab, every tab, or one tab.
Target = Literal["origin", "all"] | dict[str, str]


class EventError(Exception):
    """Refuses an event: raised by a handler, answered ``200`` with
    ``{"error": {"reason", "message", "data"?}}``; nothing of the event
    happens. `reason` is the app's own (snake_case, 1 to 64 bytes, starting
    with a letter) or ``invalid_payload``, ``handler_error``,
    ``unknown_event``."""

    def __init__(self, reason: str, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.data = data

    def answer(self) -> dict[str, Any]:
        """The answer's body."""
        error: dict[str, Any] = {"reason": self.reason, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"error": error}


def invalid_payload(message: str) -> EventError:
    return EventError("invalid_payload", message)


def handler_error(message: str) -> EventError:
    return EventError("handler_error", message)


def unknown_event(name: str) -> EventError:
    return EventError("unknown_event", f"the app has no event {quoted(name)}")


def quoted(text: str) -> str:
    """`"text"`, quoted and escaped, for messages."""
    return json.dumps(text, ensure_ascii=False)


def describe(error: ValidationError) -> str:
    """pydantic's errors in one line: ``text: Input should be a valid string``."""
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "payload"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def effect(kind: str, data: Any = None, to: Target = "origin") -> dict[str, Any]:
    """An effect of an answer: `to` is ``"origin"``, ``"all"`` or
    :func:`tab`."""
    return {"kind": kind, "data": data, "to": to}


def tab(tab_id: str) -> dict[str, str]:
    """The effect target of one tab."""
    return {"tab": tab_id}


def allow() -> dict[str, Any]:
    """A join's answer: the tab may join."""
    return {"allow": True}


def deny(message: str) -> dict[str, Any]:
    """A join's answer: refused for good (the tab gets ``unauthorized``);
    `message` goes to tabhub's log, not to the tab."""
    return {"allow": False, "message": message}
