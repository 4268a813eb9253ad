"""What a failed server API call raises.

tabhub answers a refused call with a status and `{"reason", "message"}`
(docs/app-proxy.md, the server API's error table); :class:`ApiError`
carries the three. A call that never got an answer (connection refused,
reset, timed out) is an :class:`Unreachable`, status ``None``.
"""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """A server API call that failed.

    Attributes:
        status: the HTTP status (``None`` when tabhub did not answer).
        reason: tabhub's reason (``capacity``, ``invalid_change``, ...), or
            ``unreachable`` / ``unexpected_answer`` for faults seen here.
        message: tabhub's message, for people.

    The text never holds the request's path: it names a session key, which
    is a bearer secret.
    """

    def __init__(self, status: int | None, reason: str, message: str) -> None:
        super().__init__(f"tabhub answered {status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later: a 503 (``capacity``,
        ``shutting_down``, ``session_gone``) or no answer at all."""
        return self.status is None or self.status == 503


class TaskGone(ApiError):
    """410 ``task_gone``: the task has ended or was cancelled in tabhub."""


class Unreachable(ApiError):
    """No answer from tabhub: the request failed in transport."""

    def __init__(self, cause: httpx.TransportError) -> None:
        super().__init__(None, "unreachable", f"tabhub unreachable ({type(cause).__name__})")
        # Whether the request surely never reached tabhub (safe to repeat
        # even when the call is not idempotent).
        self.not_sent = isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout))


def error_from(response: httpx.Response) -> ApiError:
    """The error of a non-2xx `response`, from its `{"reason", "message"}`
    body when it has one, else from its status and the body's start."""
    reason, message = "unexpected_answer", response.text[:200]
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("reason"), str):
        reason = body["reason"]
        message = str(body.get("message", ""))
    kind = TaskGone if response.status_code == 410 else ApiError
    return kind(response.status_code, reason, message)
