"""What tabhub sends a backend (docs/app-proxy.md, "The app proxy"), as
pydantic models. Members a later tabhub adds are ignored."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class EventObject(BaseModel):
    """The event of a `URL/event` call."""

    # A string per the contract; tolerated as null too.
    id: str | None = None
    name: str
    payload: Any = None
    chain: str | None = None
    """The chain id when a tab re-submits a chained event, else None."""


class EventCall(BaseModel):
    """`POST URL/event`: handle one event of session `key` at `seq`."""

    key: str
    tab_id: str | None = None
    """The submitting tab; None for an event from the server API."""
    event: EventObject
    seq: int
    state: Any = None
    """The state at `seq`; see :attr:`has_state`."""
    headers: dict[str, str] = {}
    peer: str | None = None

    @property
    def has_state(self) -> bool:
        """False when tabhub left the state out (``--app-no-state``): told
        apart from a ``null`` state."""
        return "state" in self.model_fields_set


class JoinCall(BaseModel):
    """`POST URL/join`: may this tab join?"""

    key: str
    tab_id: str | None = None
    params: dict[str, Any] = {}
    """The join payload's app members."""
    connect_params: dict[str, Any] = {}
    """The socket URL's query params (but `vsn` and `tab_id`)."""
    headers: dict[str, str] = {}
    """Forwarded upgrade headers (`--app-forward-header`), lower-case names."""
    peer: str | None = None


class InitialStateCall(BaseModel):
    """`POST URL/initial_state`: the state of a key never seen."""

    key: str


class CancelCall(BaseModel):
    """`POST URL/cancel`: task `task` of session `key` was cancelled."""

    key: str
    task: str
    seq: int | None = None
    state: Any = None

    @property
    def has_state(self) -> bool:
        """False when tabhub left the state out (``--app-no-state``)."""
        return "state" in self.model_fields_set


class PresenceTab(BaseModel):
    """One tab of a `URL/presence` call."""

    tab_id: str
    visible: bool
    headers: dict[str, str] = {}
    """Forwarded upgrade headers: only on the tab the change is about."""
    peer: str | None = None


class PresenceCall(BaseModel):
    """`POST URL/presence` (tabhub's ``--app-presence``): a tab of session
    `key` joined, left, or was shown or hidden."""

    key: str
    change: Literal["joined", "left", "visibility"]
    tab: PresenceTab
    """The tab the change is about (after ``left``: not visible, not in `tabs`)."""
    tabs: list[PresenceTab]
    """Every tab joined after the change, in join order."""
    seq: int
    state: Any = None

    @property
    def has_state(self) -> bool:
        """False when tabhub left the state out (``--app-no-state``)."""
        return "state" in self.model_fields_set
