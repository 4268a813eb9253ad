"""How a client retries: bounded attempts with exponential backoff.

A call is retried when tabhub answers ``503`` (``capacity``,
``shutting_down``, ``session_gone``: "retry later") or could not be
reached. A request that may have reached tabhub without an answer (a
reset or a read timeout) is repeated only when repeating it is harmless:
reads, and events (tabhub answers a repeated event id itself, so the event
happens once).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ApiError, Unreachable

#: Called before each retry with the attempt that failed (1 for the first)
#: and its error: for logging, or metrics.
OnRetry = Callable[[int, ApiError], None]


@dataclass(frozen=True)
class Retry:
    """The retry policy of a client.

    Attributes:
        attempts: tries in all, the first included (1: never retry).
        backoff_s: the wait before the first retry (s); doubled for each
            next one, up to ``max_backoff_s``, each drawn between half and
            all of that (jitter, so many clients do not retry in step).
        max_backoff_s: the longest wait between two tries (s).
        on_retry: called before each retry (see :data:`OnRetry`).
    """

    attempts: int = 4
    backoff_s: float = 0.2
    max_backoff_s: float = 2.0
    on_retry: OnRetry | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def delay(self, attempt: int) -> float:
        """The wait (s) after failed attempt `attempt` (1-based)."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)

    def should_retry(self, attempt: int, error: ApiError, idempotent: bool) -> bool:
        """Whether to try again after `attempt` failed with `error`."""
        if attempt >= self.attempts or not error.retryable:
            return False
        if isinstance(error, Unreachable):
            return idempotent or error.not_sent
        return True


#: Never retry.
NO_RETRY = Retry(attempts=1)
