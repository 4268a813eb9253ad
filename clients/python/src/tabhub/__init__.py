"""Python clients of tabhub's server API, and helpers to serve its app
proxy (docs/app-proxy.md).

- :class:`AsyncClient` / :class:`Client`: submit events, push changes and
  effects, end and cancel tasks, read, stop and delete sessions, read the
  node's stats; retrying ``503`` with backoff (:class:`Retry`).
- :mod:`tabhub.proxy`: the calls tabhub makes to a backend as typed
  objects, handlers by event name, answers and patches (``jsonpatch``).
- :mod:`tabhub.fastapi`: those calls served by a FastAPI router (needs the
  ``fastapi`` extra).
"""

from .aio import AsyncClient
from .errors import ApiError, TaskGone, Unreachable
from .models import EventReply, Session, SessionPage, SessionRow, Stats, Tab
from .retry import NO_RETRY, Retry
from .sync import Client

__all__ = [
    "NO_RETRY",
    "ApiError",
    "AsyncClient",
    "Client",
    "EventReply",
    "Retry",
    "Session",
    "SessionPage",
    "SessionRow",
    "Stats",
    "Tab",
    "TaskGone",
    "Unreachable",
]

__version__ = "0.1.0"
