"""A :class:`~tabhub.proxy.ProxyApp` served by FastAPI (needs the
``fastapi`` extra: ``pip install tabhub[fastapi]``).

``app.include_router(proxy_router(handlers, prefix="/tabhub"))`` serves
``POST /tabhub/{event,join,initial_state,cancel,presence}``; run tabhub with
``--app-url http://HOST:PORT/tabhub``.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse

from .proxy.app import ProxyApp
from .proxy.calls import CancelCall, EventCall, InitialStateCall, JoinCall, PresenceCall


class Unauthorized(Exception):
    """A call without the app token: answered ``401`` by the handler
    :func:`install_unauthorized_handler` adds."""


def bearer_check(token: str | None) -> Any:
    """A dependency letting through only calls with ``Authorization: Bearer
    <token>`` (tabhub's ``--app-token``), compared in constant time; with no
    token, every call."""

    async def check(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            return
        given = (authorization or "").encode()
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            raise Unauthorized()

    return check


async def _unauthorized(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"reason": "unauthorized", "message": "missing or wrong bearer token"},
        status_code=401,
        headers={"www-authenticate": "Bearer"},
    )


def install_unauthorized_handler(app: FastAPI) -> None:
    """Answers :class:`Unauthorized` with ``401 {"reason", "message"}``."""
    app.add_exception_handler(Unauthorized, _unauthorized)


def proxy_router(
    handlers: ProxyApp, *, prefix: str = "/tabhub", app_token: str | None = None
) -> APIRouter:
    """The app proxy routes of `handlers` under `prefix` (event, join,
    initial_state, cancel, presence).

    With `app_token`, calls without ``Authorization: Bearer <it>`` raise
    :class:`Unauthorized` (see :func:`install_unauthorized_handler`). What
    an event handler queues to run after its answer (a task's work) runs
    as a background task once the answer is sent.
    """
    router = APIRouter(prefix=prefix, dependencies=[Depends(bearer_check(app_token))])

    @router.post("/event")
    async def event(call: EventCall, background: BackgroundTasks) -> dict[str, Any]:
        answer, after = await handlers.handle_event(call)
        for then in after:
            # A coroutine function, so it runs on the event loop.
            background.add_task(then)
        return answer

    @router.post("/join")
    async def join(call: JoinCall) -> dict[str, Any]:
        return await handlers.handle_join(call)

    @router.post("/initial_state", response_model=None)
    async def initial_state(call: InitialStateCall) -> dict[str, Any] | JSONResponse:
        return _or_not_found(await handlers.handle_initial_state(call))

    @router.post("/cancel")
    async def cancel(call: CancelCall) -> dict[str, Any]:
        return await handlers.handle_cancel(call)

    @router.post("/presence", response_model=None)
    async def presence(call: PresenceCall) -> dict[str, Any] | JSONResponse:
        return _or_not_found(await handlers.handle_presence(call))

    return router


def _or_not_found(answer: dict[str, Any] | None) -> dict[str, Any] | JSONResponse:
    """The answer, or ``404`` where the app has no handler of the call."""
    if answer is None:
        return JSONResponse({"reason": "not_found"}, status_code=404)
    return answer
