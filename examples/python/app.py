"""The demo app of the `tabhub` binary (src/demo.rs), as a backend of tabhub's
app proxy (docs/app-proxy.md), written with FastAPI.

tabhub runs with `--app-url http://HOST:PORT/tabhub` and calls:

- `POST /tabhub/initial_state`: the state of a new session key;
- `POST /tabhub/join`: may this tab join?
- `POST /tabhub/event`: what one event does (answered with a JSON patch);
- `POST /tabhub/cancel`: a background task was cancelled.

Background jobs run here, as asyncio tasks, and report progress to tabhub
through its server API (`POST {TABHUB_API_URL}/sessions/{key}/state`, then
`.../tasks/{job}/end`).

State of a session: `{"todos": [{"id", "text", "done"}], "jobs": {KEY:
{"progress", "steps", "status"}}, "chain_count": N}`.

Environment:

- `TABHUB_API_URL`: the server API, prefix included (`http://127.0.0.1:4000/api`);
  needed by `start_job` only.
- `TABHUB_API_TOKEN`: the server API's bearer token (tabhub's `--api-token`).
- `TABHUB_APP_TOKEN`: optional; when set, every call from tabhub must carry
  `Authorization: Bearer <it>` (tabhub's `--app-token`), else 401.
- `TABHUB_EXAMPLE_REQUIRE_COOKIE`: optional test hook; when set to a cookie
  name, joins whose forwarded `cookie` header lacks it are refused.

Run: `python app.py --port 8000` or `python -m uvicorn app:app --port 8000`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import uvicorn
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictStr, ValidationError

log = logging.getLogger("tabhub.example")

# The demo's limits (src/demo.rs).
MAX_TODO_CHARS = 100_000
MAX_DELAY_MS = 5_000
MAX_STEPS = 10_000
MAX_STEP_MS = 60_000
# Longest sleep of the `sleep` test hook.
MAX_SLEEP_MS = 60_000

# The demo decodes these numbers as Rust u32 / u64: strict integers (no bools,
# no floats, no strings) in range.
U32 = Annotated[int, Field(strict=True, ge=0, le=2**32 - 1)]
U64 = Annotated[int, Field(strict=True, ge=0, le=2**64 - 1)]

# What Rust's `str::trim` strips (Unicode White_Space). Python's `str.strip()`
# also strips U+001C..U+001F, which Rust keeps.
RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


# --------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class Settings:
    api_url: str | None
    api_token: str | None
    app_token: str | None
    require_cookie: str | None

    @classmethod
    def from_env(cls) -> Settings:
        def env(name: str) -> str | None:
            return os.environ.get(name) or None

        return cls(
            api_url=env("TABHUB_API_URL"),
            api_token=env("TABHUB_API_TOKEN"),
            app_token=env("TABHUB_APP_TOKEN"),
            require_cookie=env("TABHUB_EXAMPLE_REQUIRE_COOKIE"),
        )


# --------------------------------------------------------------------------
# Event errors: answered 200 `{"error": {"reason", "message", "data"?}}`


class EventError(Exception):
    def __init__(self, reason: str, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.data = data

    def answer(self) -> dict[str, Any]:
        error: dict[str, Any] = {"reason": self.reason, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"error": error}


def invalid_payload(message: str) -> EventError:
    return EventError("invalid_payload", message)


def handler_error(message: str) -> EventError:
    return EventError("handler_error", message)


def quoted(text: str) -> str:
    """`"text"`, quoted and escaped (as the demo's `{:?}` does)."""
    return json.dumps(text, ensure_ascii=False)


# --------------------------------------------------------------------------
# JSON patches (RFC 6902), written by hand and mirrored on a local state


def pointer(*segments: str | int) -> str:
    """A JSON pointer (RFC 6901) from raw segments: `~` -> `~0`, `/` -> `~1`."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in segments)


class Change:
    """The patch an answer carries. When the request had the state, each
    operation is also applied to it (in place: it was parsed for this request
    alone), so the summary can be computed on the state after the change."""

    def __init__(self, state: dict[str, Any] | None) -> None:
        self.state = state
        self.ops: list[dict[str, Any]] = []

    def add(self, path: str, value: Any) -> None:
        self._record({"op": "add", "path": path, "value": value})

    def replace(self, path: str, value: Any) -> None:
        self._record({"op": "replace", "path": path, "value": value})

    def remove(self, path: str) -> None:
        self._record({"op": "remove", "path": path})

    def _record(self, op: dict[str, Any]) -> None:
        self.ops.append(op)
        if self.state is None:
            return
        # Just enough of RFC 6902 for the patches above, on the demo's own
        # state (whose shape the handlers have checked).
        *parents, last = [
            s.replace("~1", "/").replace("~0", "~") for s in op["path"].split("/")[1:]
        ]
        target: Any = self.state
        for s in parents:
            target = target[int(s)] if isinstance(target, list) else target[s]
        if isinstance(target, list):
            if op["op"] == "add":
                target.insert(len(target) if last == "-" else int(last), op["value"])
            elif op["op"] == "replace":
                target[int(last)] = op["value"]
            else:
                del target[int(last)]
        elif op["op"] == "remove":
            del target[last]
        else:
            target[last] = op["value"]


def summary(state: dict[str, Any]) -> dict[str, int]:
    """The demo's summary (docs/protocol.md section 5.8 (summary joins))."""
    todos = state.get("todos") or []
    jobs = state.get("jobs") or {}
    return {
        "todos": len(todos),
        "open": sum(1 for t in todos if not t.get("done")),
        "jobs_running": sum(1 for j in jobs.values() if j.get("status") == "running"),
    }


# --------------------------------------------------------------------------
# What tabhub sends (docs/app-proxy.md). Extra members are ignored.


class EventObject(BaseModel):
    # A string per the contract; tolerated as null too (unused here).
    id: str | None = None
    name: str
    payload: Any = None
    chain: str | None = None


class EventCall(BaseModel):
    key: str
    tab_id: str | None = None
    event: EventObject
    seq: int
    # Absent with `--app-no-state` (told apart from `null` by
    # `model_fields_set`).
    state: Any = None


class JoinCall(BaseModel):
    key: str
    tab_id: str | None = None
    params: dict[str, Any] = {}
    connect_params: dict[str, Any] = {}
    headers: dict[str, str] = {}
    peer: str | None = None


class InitialStateCall(BaseModel):
    key: str


class CancelCall(BaseModel):
    key: str
    task: str
    seq: int | None = None
    state: Any = None


def state_of(call: EventCall | CancelCall) -> dict[str, Any] | None:
    """The request's state, or None when tabhub left it out."""
    if "state" not in call.model_fields_set:
        return None
    if not isinstance(call.state, dict):
        raise handler_error("the session's state is not an object")
    return call.state


# --------------------------------------------------------------------------
# Event payloads


class TextPayload(BaseModel):
    text: StrictStr


class AddTodoAfterPayload(BaseModel):
    text: StrictStr
    delay_ms: U64


class IdPayload(BaseModel):
    id: StrictStr


class StartJobPayload(BaseModel):
    key: StrictStr
    steps: U32
    step_ms: U64


class CountPayload(BaseModel):
    n: U32


class SleepPayload(BaseModel):
    ms: U64


def describe(error: ValidationError) -> str:
    """pydantic's errors, one line: `text: Input should be a valid string`."""
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "payload"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


# --------------------------------------------------------------------------
# Handling one event


@dataclass
class Event:
    """One event being handled, and the answer it builds."""

    key: str
    state: dict[str, Any] | None
    change: Change
    effects: list[dict[str, Any]] = field(default_factory=list)
    chains: list[dict[str, Any]] = field(default_factory=list)
    reply: Any = None
    has_reply: bool = False
    tasks_started: list[str] = field(default_factory=list)
    # Run once the answer has been sent.
    after_answer: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def need_state(self) -> dict[str, Any]:
        if self.state is None:
            raise handler_error("this backend needs the state")
        return self.state

    def set_reply(self, value: Any) -> None:
        self.reply = value
        self.has_reply = True

    def chain(self, name: str, payload: Any) -> None:
        self.chains.append({"name": name, "payload": payload})

    def answer(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.change.ops:
            body["patch"] = self.change.ops
        if self.effects:
            body["effects"] = self.effects
        if self.chains:
            body["chains"] = self.chains
        if self.has_reply:
            body["reply"] = self.reply
        if self.tasks_started:
            body["tasks"] = {"start": self.tasks_started}
        if self.state is not None:
            body["summary"] = summary(self.state)
        return body


def todo_index(state: dict[str, Any], todo_id: str) -> int:
    for i, todo in enumerate(state.get("todos") or []):
        if todo.get("id") == todo_id:
            return i
    raise handler_error(f"no todo with id {quoted(todo_id)}")


def add_todo(ev: Event, text: str) -> str:
    """Appends a todo and returns its id."""
    if not text.strip(RUST_WHITESPACE):
        raise invalid_payload("text must not be empty")
    if len(text) > MAX_TODO_CHARS:
        raise EventError(
            "too_long",
            f"a todo has at most {MAX_TODO_CHARS} characters",
            {"max": MAX_TODO_CHARS},
        )
    todo_id = str(uuid.uuid4())
    ev.change.add(pointer("todos", "-"), {"id": todo_id, "text": text, "done": False})
    return todo_id


async def on_add_todo(ev: Event, p: TextPayload) -> None:
    add_todo(ev, p.text)


async def on_add_todo_after(ev: Event, p: AddTodoAfterPayload) -> None:
    if p.delay_ms > MAX_DELAY_MS:
        raise invalid_payload(f"delay_ms must be at most {MAX_DELAY_MS}")
    # Stands for a slow call (a database, another service): the session's
    # next event waits its turn; other sessions go on.
    await asyncio.sleep(p.delay_ms / 1000)
    ev.set_reply({"id": add_todo(ev, p.text)})


async def on_toggle_todo(ev: Event, p: IdPayload) -> None:
    state = ev.need_state()
    i = todo_index(state, p.id)
    done = bool(state["todos"][i].get("done"))
    ev.change.replace(pointer("todos", i, "done"), not done)


async def on_remove_todo(ev: Event, p: IdPayload) -> None:
    state = ev.need_state()
    i = todo_index(state, p.id)
    ev.change.remove(pointer("todos", i))


async def on_toast(ev: Event, p: TextPayload) -> None:
    ev.effects.append({"kind": "toast", "data": {"text": p.text}, "to": "origin"})


async def on_start_job(ev: Event, p: StartJobPayload) -> None:
    if not p.key or not 1 <= p.steps <= MAX_STEPS or p.step_ms > MAX_STEP_MS:
        raise invalid_payload(
            f"need a non-empty key, 1..={MAX_STEPS} steps and at most "
            f"{MAX_STEP_MS} step_ms"
        )
    if jobs.client is None:
        raise handler_error("this backend has no server API (set TABHUB_API_URL)")
    if jobs.running(ev.key, p.key):
        raise handler_error(f"task {quoted(p.key)} is already running")
    ev.change.add(
        pointer("jobs", p.key),
        {"progress": 0, "steps": p.steps, "status": "running"},
    )
    ev.tasks_started.append(p.key)
    ev.after_answer.append(jobs.start(ev.key, p.key, p.steps, p.step_ms))


async def on_chain_demo(ev: Event, p: CountPayload) -> None:
    if p.n < 1:
        raise invalid_payload("n must be at least 1")
    ev.chain("chain_step", {"n": p.n})


async def on_chain_step(ev: Event, p: CountPayload) -> None:
    state = ev.need_state()
    ev.change.replace(pointer("chain_count"), int(state.get("chain_count") or 0) + 1)
    if p.n > 1:
        ev.chain("chain_step", {"n": p.n - 1})


async def on_sleep(ev: Event, p: SleepPayload) -> None:
    """Test hook: a slow backend (for `--app-timeout-ms`)."""
    ms = min(p.ms, MAX_SLEEP_MS)
    await asyncio.sleep(ms / 1000)
    ev.set_reply({"slept": ms})


Handler = Callable[[Event, Any], Awaitable[None]]

# Event name -> (payload model, handler).
EVENTS: dict[str, tuple[type[BaseModel], Handler]] = {
    "add_todo": (TextPayload, on_add_todo),
    "add_todo_after": (AddTodoAfterPayload, on_add_todo_after),
    "toggle_todo": (IdPayload, on_toggle_todo),
    "remove_todo": (IdPayload, on_remove_todo),
    "toast": (TextPayload, on_toast),
    "start_job": (StartJobPayload, on_start_job),
    "chain_demo": (CountPayload, on_chain_demo),
    "chain_step": (CountPayload, on_chain_step),
    "sleep": (SleepPayload, on_sleep),
}


# --------------------------------------------------------------------------
# Background jobs, driven through tabhub's server API


class ApiError(Exception):
    """A server API call that failed (not a 410)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TaskGone(Exception):
    """410 `task_gone`: the task ended or was cancelled in tabhub."""


class Jobs:
    """The running jobs, by (session key, job key), and the server API client."""

    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def open(self, settings: Settings) -> None:
        if settings.api_url is None:
            log.warning("TABHUB_API_URL is not set: start_job is refused")
            return
        headers = {}
        if settings.api_token is not None:
            headers["authorization"] = f"Bearer {settings.api_token}"
        # httpx joins relative paths onto the base URL's path (its prefix).
        self.client = httpx.AsyncClient(
            base_url=settings.api_url.rstrip("/") + "/",
            headers=headers,
            timeout=10.0,
        )

    async def close(self) -> None:
        """Stops every job and tells tabhub they failed (best effort), so
        their sessions are not kept alive by tasks nobody runs."""
        running = list(self.tasks.items())
        for _, task in running:
            task.cancel()
        if running and self.client is not None:
            ends = [
                self.end(key, job, "failed", "the backend stopped")
                for (key, job), _ in running
            ]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*ends), timeout=5)
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def running(self, key: str, job: str) -> bool:
        return (key, job) in self.tasks

    def start(
        self, key: str, job: str, steps: int, step_ms: int
    ) -> Callable[[], Awaitable[None]]:
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

        # A coroutine function, so BackgroundTasks runs it on the event loop
        # (a plain function would run in a worker thread).
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
        # Should the answer never be sent (tabhub gone), go on anyway: the
        # first update then meets a 410 and the job stops.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(answered.wait(), timeout=10)
        try:
            for i in range(1, steps + 1):
                await asyncio.sleep(step_ms / 1000)
                await self.call(
                    f"sessions/{seg(key)}/state",
                    {
                        "task": job,
                        "patch": [
                            {
                                "op": "replace",
                                "path": pointer("jobs", job, "progress"),
                                "value": i,
                            }
                        ],
                    },
                )
            await self.end(key, job, "done")
        except TaskGone:
            pass  # cancelled (or ended) in tabhub: stop quietly
        except ApiError as e:
            log.warning("job %s of session %s failed: %s", quoted(job), key[:8], e)
            await self.end(key, job, "failed", str(e))

    async def end(
        self, key: str, job: str, status: str, error: str | None = None
    ) -> None:
        """Ends the task in tabhub with the job's final status; never raises."""
        body: dict[str, Any] = {
            "status": status,
            "patch": [
                {
                    "op": "replace",
                    "path": pointer("jobs", job, "status"),
                    "value": status,
                }
            ],
        }
        if error is not None:
            body["error"] = error
        # The summary counts running jobs: read the state tabhub keeps and
        # send the summary as it is once this job has ended (best effort:
        # an event between the read and the end is counted at the next).
        state = await self.read_state(key)
        if state is not None and isinstance(state.get("jobs", {}).get(job), dict):
            state["jobs"][job]["status"] = status
            body["summary"] = summary(state)
        path = f"sessions/{seg(key)}/tasks/{seg(job)}/end"
        try:
            try:
                await self.call(path, body)
            except ApiError as e:
                if e.status != 422:
                    raise
                # The job is no longer in the state: end the task alone.
                del body["patch"]
                await self.call(path, body)
        except TaskGone:
            pass
        except ApiError as e:
            log.warning(
                "could not end job %s of session %s: %s", quoted(job), key[:8], e
            )

    async def read_state(self, key: str) -> dict[str, Any] | None:
        """The session's state, from `GET sessions/KEY`; None if unreadable."""
        assert self.client is not None
        try:
            r = await self.client.get(f"sessions/{seg(key)}")
        except httpx.HTTPError:
            return None
        if not r.is_success:
            return None
        state = r.json().get("state")
        return state if isinstance(state, dict) else None

    async def call(self, path: str, body: Any, attempts: int = 3) -> Any:
        """POSTs to the server API; raises TaskGone on 410, ApiError on any
        other failure. 503 (retry later) and unreachable are retried briefly.
        Messages leave the path out: it holds the session key."""
        assert self.client is not None
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                r = await self.client.post(path, json=body)
            except httpx.HTTPError as e:
                if last:
                    raise ApiError(f"tabhub unreachable ({type(e).__name__})") from e
            else:
                if r.is_success:
                    return r.json()
                if r.status_code == 410:
                    raise TaskGone()
                if r.status_code != 503 or last:
                    raise ApiError(api_refusal(r), r.status_code)
            await asyncio.sleep(0.2 * 2**attempt)


def api_refusal(r: httpx.Response) -> str:
    """`tabhub answered 500 store_error: ...` from a server API error."""
    try:
        body = r.json()
        why = f"{body['reason']}: {body['message']}"
    except (ValueError, KeyError, TypeError):
        why = r.text[:200]
    return f"tabhub answered {r.status_code} {why}"


def seg(text: str) -> str:
    """One URL path segment."""
    return quote(text, safe="")


jobs = Jobs()


# --------------------------------------------------------------------------
# The app


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.settings = Settings.from_env()
    await jobs.open(app.state.settings)
    try:
        yield
    finally:
        await jobs.close()


app = FastAPI(title="tabhub example backend", lifespan=lifespan)


class Unauthorized(Exception):
    """A call without the app token."""


async def check_app_token(
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """With TABHUB_APP_TOKEN set, only tabhub (`--app-token`) may call."""
    token = app.state.settings.app_token
    if token is None:
        return
    given = (authorization or "").encode()
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        raise Unauthorized()


@app.exception_handler(Unauthorized)
async def unauthorized(_request: Any, _exc: Unauthorized) -> JSONResponse:
    return JSONResponse(
        {"reason": "unauthorized", "message": "missing or wrong bearer token"},
        status_code=401,
    )


proxy = APIRouter(prefix="/tabhub", dependencies=[Depends(check_app_token)])


@proxy.post("/initial_state")
async def initial_state(_call: InitialStateCall) -> dict[str, Any]:
    return {"state": {"todos": [], "jobs": {}, "chain_count": 0}}


@proxy.post("/join")
async def join(call: JoinCall) -> dict[str, Any]:
    if call.connect_params.get("blocked") == "yes":
        return {"allow": False, "message": "blocked (connect param blocked=yes)"}
    cookie = app.state.settings.require_cookie
    if cookie is not None and cookie not in cookie_names(
        call.headers.get("cookie", "")
    ):
        return {"allow": False, "message": f"missing cookie {cookie}"}
    return {"allow": True}


def cookie_names(header: str) -> set[str]:
    """The names in a `Cookie` header (`a=1; b=2`)."""
    return {part.split("=", 1)[0].strip() for part in header.split(";") if "=" in part}


@proxy.post("/event")
async def event(call: EventCall, background: BackgroundTasks) -> dict[str, Any]:
    name = call.event.name
    if name not in EVENTS:
        return EventError(
            "unknown_event", f"the app has no event {quoted(name)}"
        ).answer()
    model, handle = EVENTS[name]
    try:
        payload = model.model_validate(call.event.payload)
    except ValidationError as e:
        return invalid_payload(f"invalid payload for {name}: {describe(e)}").answer()
    try:
        state = state_of(call)
        ev = Event(key=call.key, state=state, change=Change(state))
        await handle(ev, payload)
    except EventError as e:
        return e.answer()
    for then in ev.after_answer:
        background.add_task(then)
    return ev.answer()


@proxy.post("/cancel")
async def cancel(call: CancelCall) -> dict[str, Any]:
    jobs.cancel(call.key, call.task)
    try:
        state = state_of(call)
    except EventError:
        state = None
    change = Change(state)
    answer: dict[str, Any] = {}
    job_map = state.get("jobs") if state is not None else None
    if isinstance(job_map, dict) and isinstance(job_map.get(call.task), dict):
        change.replace(pointer("jobs", call.task, "status"), "cancelled")
        answer["patch"] = change.ops
    if state is not None:
        answer["summary"] = summary(state)
    return answer


app.include_router(proxy)


@app.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
