"""The example's background jobs: asyncio tasks that push their progress
to tabhub through the server API (the `tabhub` package's `AsyncClient`)
and end their task there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal

from tabhub import ApiError, AsyncClient, Retry, TaskGone
from tabhub.proxy import AfterAnswer, pointer, quoted

log = logging.getLogger("tabhub.example")

# A 503 (retry later) or tabhub unreachable: tried three times in all.
RETRY = Retry(attempts=3, backoff_s=0.2)


class Jobs:
    """The running jobs, by (session key, job key), and the API client.
    `summary` computes the session's summary from a state."""

    def __init__(self, summary: Callable[[dict[str, Any]], Any]) -> None:
        self.summary = summary
        self.api: AsyncClient | None = None
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    def open(self, api_url: str | None, token: str | None) -> None:
        if api_url is None or token is None:
            log.warning("TABHUB_API_URL or TABHUB_API_TOKEN is not set: start_job is refused")
            return
        self.api = AsyncClient(api_url, token, retry=RETRY)

    async def close(self) -> None:
        """Stops every job and tells tabhub they failed (best effort), so
        their sessions are not kept alive by tasks nobody runs."""
        running = list(self.tasks.items())
        for _, task in running:
            task.cancel()
        if running and self.api is not None:
            ends = [self.end(key, job, "failed", "the backend stopped") for (key, job), _ in running]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*ends), timeout=5)
        if self.api is not None:
            await self.api.aclose()
            self.api = None

    def running(self, key: str, job: str) -> bool:
        return (key, job) in self.tasks

    def start(self, key: str, job: str, steps: int, step_ms: int) -> AfterAnswer:
        """Starts job `job` of session `key` now (so a second `start_job`
        of it is refused at once), held until the returned function is
        called: after the answer that starts the task was sent."""
        answered = asyncio.Event()
        task = asyncio.create_task(self.run(key, job, steps, step_ms, answered))
        self.tasks[(key, job)] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self.tasks.get((key, job)) is done:
                del self.tasks[(key, job)]

        task.add_done_callback(forget)

        async def release() -> None:
            answered.set()

        return release

    def cancel(self, key: str, job: str) -> bool:
        task = self.tasks.pop((key, job), None)
        if task is None:
            return False
        task.cancel()
        return True

    async def run(
        self, key: str, job: str, steps: int, step_ms: int, answered: asyncio.Event
    ) -> None:
        assert self.api is not None
        # Should the answer never be sent (tabhub gone), go on anyway: the
        # first update then meets a 410 and the job stops.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(answered.wait(), timeout=10)
        try:
            for i in range(1, steps + 1):
                await asyncio.sleep(step_ms / 1000)
                progress = {"op": "replace", "path": pointer("jobs", job, "progress"), "value": i}
                await self.api.change_state(key, task=job, patch=[progress])
            await self.end(key, job, "done")
        except TaskGone:
            pass  # cancelled (or ended) in tabhub: stop quietly
        except ApiError as e:
            log.warning("job %s of session %s failed: %s", quoted(job), key[:8], e)
            await self.end(key, job, "failed", str(e))

    async def end(
        self, key: str, job: str, status: Literal["done", "failed"], error: str | None = None
    ) -> None:
        """Ends the task in tabhub with the job's final status; never raises."""
        assert self.api is not None
        patch = [{"op": "replace", "path": pointer("jobs", job, "status"), "value": status}]
        # The summary counts running jobs: read the state tabhub keeps and
        # send the summary as it is once this job has ended (best effort:
        # an event between the read and the end is counted at the next).
        summary = None
        with contextlib.suppress(ApiError):
            state = (await self.api.read_session(key)).state
            if isinstance(state, dict) and isinstance(state.get("jobs", {}).get(job), dict):
                state["jobs"][job]["status"] = status
                summary = self.summary(state)
        try:
            try:
                await self.api.end_task(key, job, status, error=error, patch=patch, summary=summary)
            except ApiError as e:
                if e.status != 422 or isinstance(e, TaskGone):
                    raise
                # The job is no longer in the state: end the task alone.
                await self.api.end_task(key, job, status, error=error, summary=summary)
        except TaskGone:
            pass
        except ApiError as e:
            log.warning("could not end job %s of session %s: %s", quoted(job), key[:8], e)
