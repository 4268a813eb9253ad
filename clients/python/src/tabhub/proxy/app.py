"""A backend's handlers of the app proxy's calls, by event name: decoding
each call and its payload, running the handler, building the answer."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .answers import EventError, allow, describe, handler_error, invalid_payload, unknown_event
from .calls import CancelCall, EventCall, InitialStateCall, JoinCall, PresenceCall
from .change import ChangeConflict
from .context import AfterAnswer, Context

#: ``handler(ctx, payload)``, plain or async: records the event's effect on
#: `ctx`, or raises :class:`EventError`.
EventHandler = Callable[[Context, Any], Any]
#: ``handler(ctx, call)`` of a cancel, plain or async.
CancelHandler = Callable[[Context, CancelCall], Any]
#: ``handler(ctx, call)`` of a presence change, plain or async.
PresenceHandler = Callable[[Context, PresenceCall], Any]
#: ``handler(call)``, plain or async: :func:`allow`, :func:`deny`, or a bool.
JoinHandler = Callable[[JoinCall], Any]
#: ``handler(call)``, plain or async: the new key's state.
InitialStateHandler = Callable[[InitialStateCall], Any]
#: The summary of a state (after the change), sent whenever it is known.
Summary = Callable[[dict[str, Any]], Any]


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    return await result if inspect.isawaitable(result) else result


class ProxyApp:
    """The handlers of one backend.

    Register them with the decorators; serve them with
    :func:`tabhub.fastapi.proxy_router` (or call the ``handle_*``
    methods from any framework). `summary`, if given, computes every
    answer's summary from the state after the change (when tabhub sent
    the state).

    Event handlers take ``(ctx, payload)``; the payload is validated
    against the second parameter's annotation (a pydantic model, or any
    type pydantic knows) and a payload of the wrong shape is answered
    ``invalid_payload`` before the handler runs.
    """

    def __init__(self, *, summary: Summary | None = None) -> None:
        self._summary = summary
        self._events: dict[str, tuple[TypeAdapter[Any], EventHandler]] = {}
        self._join: JoinHandler | None = None
        self._cancel: CancelHandler | None = None
        self._presence: PresenceHandler | None = None
        self._initial_state: InitialStateHandler | None = None

    def event(self, name: str, payload: Any = None) -> Callable[[EventHandler], EventHandler]:
        """Registers the handler of event `name`. Its payload's type is
        `payload`, else the annotation of the handler's second parameter
        (resolved in the handler's module: give `payload` for a type
        defined inside a function), else any JSON."""

        def register(handler: EventHandler) -> EventHandler:
            kind = payload
            if kind is None:
                hints = typing.get_type_hints(handler)
                params = list(inspect.signature(handler).parameters)
                kind = hints.get(params[1], Any) if len(params) > 1 else Any
            self._events[name] = (TypeAdapter(kind), handler)
            return handler

        return register

    def join(self, handler: JoinHandler) -> JoinHandler:
        """Registers the join decision (without one, every join is allowed)."""
        self._join = handler
        return handler

    def cancel(self, handler: CancelHandler) -> CancelHandler:
        """Registers what a cancelled task does to the state."""
        self._cancel = handler
        return handler

    def presence(self, handler: PresenceHandler) -> PresenceHandler:
        """Registers what a tab joining, leaving, or being shown or hidden
        does to the state (tabhub calls it with ``--app-presence``;
        without a handler the call is answered ``404``: no change)."""
        self._presence = handler
        return handler

    def initial_state(self, handler: InitialStateHandler) -> InitialStateHandler:
        """Registers the state of new keys (without one: ``404``, ``{}``)."""
        self._initial_state = handler
        return handler

    @property
    def has_initial_state(self) -> bool:
        return self._initial_state is not None

    async def handle_event(self, call: EventCall) -> tuple[dict[str, Any], list[AfterAnswer]]:
        """The answer to `call`, and what to run once it is sent."""
        name = call.event.name
        if name not in self._events:
            return unknown_event(name).answer(), []
        adapter, handler = self._events[name]
        try:
            payload = adapter.validate_python(call.event.payload)
        except ValidationError as e:
            return invalid_payload(f"invalid payload for {name}: {describe(e)}").answer(), []
        try:
            ctx = Context(call.key, _state(call.state, call.has_state), call.tab_id, call.seq)
            await _call(handler, ctx, payload)
        except ChangeConflict as e:
            return handler_error(f"the change does not apply: {e}").answer(), []
        except EventError as e:
            return e.answer(), []
        return self._finish(ctx), ctx.after_answer

    async def handle_join(self, call: JoinCall) -> dict[str, Any]:
        if self._join is None:
            return allow()
        decision = await _call(self._join, call)
        if isinstance(decision, bool):
            return allow() if decision else {"allow": False}
        return dict(decision)

    async def handle_initial_state(self, call: InitialStateCall) -> dict[str, Any] | None:
        """``{"state"}``, or None: no initial state (answer ``404``)."""
        if self._initial_state is None:
            return None
        return {"state": await _call(self._initial_state, call)}

    async def handle_cancel(self, call: CancelCall) -> dict[str, Any]:
        try:
            state = _state(call.state, call.has_state)
        except EventError:
            state = None
        ctx = Context(call.key, state, None, call.seq)
        if self._cancel is not None:
            try:
                await _call(self._cancel, ctx, call)
            except (EventError, ChangeConflict):
                # tabhub only logs a cancel's error: answer nothing.
                return {}
        return self._finish(ctx)

    async def handle_presence(self, call: PresenceCall) -> dict[str, Any] | None:
        """The answer to a presence change, or None: no handler (answer
        ``404``). A refusal answers nothing: tabhub only logs it."""
        if self._presence is None:
            return None
        try:
            ctx = Context(call.key, _state(call.state, call.has_state), call.tab.tab_id, call.seq)
            await _call(self._presence, ctx, call)
        except (EventError, ChangeConflict):
            return {}
        return self._finish(ctx)

    def _finish(self, ctx: Context) -> dict[str, Any]:
        if self._summary is not None and ctx.state is not None:
            ctx.summary(self._summary(ctx.state))
        return ctx.answer()


def _state(state: Any, present: bool) -> dict[str, Any] | None:
    if not present:
        return None
    if not isinstance(state, dict):
        raise handler_error("the session's state is not an object")
    return state
