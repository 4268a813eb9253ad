"""What the async and the sync client share: their settings, and reading
one answer (the sending and the waiting differ)."""

from __future__ import annotations

from typing import Any

import httpx

from . import _routes
from .errors import ApiError, error_from
from .retry import Retry

#: The default deadline of one request (s): connect, send and answer.
DEFAULT_TIMEOUT_S = 10.0


def settings(api_url: str, token: str) -> dict[str, Any]:
    """The httpx client arguments: base URL (its path kept as the API's
    prefix), the bearer token."""
    if not token:
        raise ValueError("the server API needs its token (tabhub's --api-token)")
    # httpx joins relative paths onto the base URL's path only after a `/`.
    return {
        "base_url": api_url.rstrip("/") + "/",
        "headers": {"authorization": f"Bearer {token}"},
    }


def request_args(call: _routes.Call) -> dict[str, Any]:
    args: dict[str, Any] = {"method": call.method, "url": call.path}
    if call.body is not None:
        args["json"] = call.body
    return args


def outcome(call: _routes.Call, response: httpx.Response) -> Any:
    """The call's value from a `response`; raises :class:`ApiError` for a
    refusal, or for an answer not of the route's shape."""
    if not response.is_success:
        raise error_from(response)
    try:
        return call.read(response.json())
    except (KeyError, TypeError, ValueError) as e:
        raise ApiError(
            response.status_code, "unexpected_answer", f"not the route's answer: {response.text[:200]}"
        ) from e


def next_delay(retry: Retry, attempt: int, error: ApiError, call: _routes.Call) -> float | None:
    """The wait before the next try, or None to give up (raise `error`)."""
    if not retry.should_retry(attempt, error, call.idempotent):
        return None
    if retry.on_retry is not None:
        retry.on_retry(attempt, error)
    return retry.delay(attempt)
