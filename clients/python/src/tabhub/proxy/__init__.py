"""Serving tabhub's app proxy (docs/app-proxy.md) from any framework.

- :mod:`.calls`: what tabhub sends (``EventCall``, ``JoinCall``, ...).
- :class:`ProxyApp`: handlers by event name; ``handle_*`` answer a call.
- :class:`Context`: what a handler records (a :class:`Change`, effects,
  chains, a reply, tasks, a summary).
- :class:`Change`, :func:`pointer`, :func:`patch_between`: patches made
  with ``jsonpatch``.
- :class:`EventError` and friends: refusals; :func:`allow` / :func:`deny`
  for joins.
"""

from .answers import (
    EventError,
    Target,
    allow,
    deny,
    describe,
    effect,
    handler_error,
    invalid_payload,
    quoted,
    tab,
    unknown_event,
)
from .app import ProxyApp
from .calls import (
    CancelCall,
    EventCall,
    EventObject,
    InitialStateCall,
    JoinCall,
    PresenceCall,
    PresenceTab,
)
from .change import Change, ChangeConflict, patch_between, pointer
from .context import AfterAnswer, Context

__all__ = [
    "AfterAnswer",
    "CancelCall",
    "Change",
    "ChangeConflict",
    "Context",
    "EventCall",
    "EventError",
    "EventObject",
    "InitialStateCall",
    "JoinCall",
    "PresenceCall",
    "PresenceTab",
    "ProxyApp",
    "Target",
    "allow",
    "deny",
    "describe",
    "effect",
    "handler_error",
    "invalid_payload",
    "patch_between",
    "pointer",
    "quoted",
    "tab",
    "unknown_event",
]
