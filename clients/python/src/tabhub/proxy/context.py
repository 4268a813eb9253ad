"""What one event's (or one cancel's) answer is built from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .answers import Target, effect, handler_error
from .change import Change

#: Runs once the answer has been sent (a background job's start).
AfterAnswer = Callable[[], Awaitable[None]]

_NOTHING: Any = object()


@dataclass
class Context:
    """An answer being built for session `key`.

    `state` is the call's state (a JSON object), changed in place by
    `change`, or ``None`` when tabhub left it out (``--app-no-state``).
    Handlers record what the event does; :meth:`answer` is the body.
    """

    key: str
    state: dict[str, Any] | None
    tab_id: str | None = None
    seq: int | None = None
    change: Change = field(init=False)
    effects: list[dict[str, Any]] = field(default_factory=list)
    chains: list[dict[str, Any]] = field(default_factory=list)
    tasks_started: list[str] = field(default_factory=list)
    tasks_cancelled: list[str] = field(default_factory=list)
    after_answer: list[AfterAnswer] = field(default_factory=list)
    _reply: Any = _NOTHING
    _summary: Any = _NOTHING

    def __post_init__(self) -> None:
        self.change = Change(self.state)

    def need_state(self) -> dict[str, Any]:
        """The state; ``handler_error`` when tabhub left it out."""
        if self.state is None:
            raise handler_error("this backend needs the state")
        return self.state

    def reply(self, data: Any) -> None:
        """The `data` of the event's ok reply."""
        self._reply = data

    def summary(self, data: Any) -> None:
        """The session's summary for summary joins."""
        self._summary = data

    def effect(self, kind: str, data: Any = None, to: Target = "origin") -> None:
        self.effects.append(effect(kind, data, to))

    def chain(self, name: str, payload: Any) -> None:
        """Chains event `name` to one tab, which re-submits it."""
        self.chains.append({"name": name, "payload": payload})

    def start_task(self, task: str, then: AfterAnswer | None = None) -> None:
        """Starts background task `task`; `then` runs once tabhub has the
        answer (the work, which ends the task through the server API)."""
        self.tasks_started.append(task)
        if then is not None:
            self.after_answer.append(then)

    def cancel_task(self, task: str) -> None:
        self.tasks_cancelled.append(task)

    def answer(self) -> dict[str, Any]:
        """The answer's body: only the members something was recorded for."""
        body: dict[str, Any] = {}
        if self.change.ops:
            body["patch"] = self.change.ops
        if self.effects:
            body["effects"] = self.effects
        if self.chains:
            body["chains"] = self.chains
        if self._reply is not _NOTHING:
            body["reply"] = self._reply
        tasks = {"start": self.tasks_started, "cancel": self.tasks_cancelled}
        tasks = {k: v for k, v in tasks.items() if v}
        if tasks:
            body["tasks"] = tasks
        if self._summary is not _NOTHING:
            body["summary"] = self._summary
        return body
