"""The demo app of the `tabhub` binary (src/demo.rs), as a backend of tabhub's
app proxy (docs/app-proxy.md), written with FastAPI and the `tabhub`
package (clients/python): its `ProxyApp` decodes tabhub's calls and builds
the answers (patches made with `jsonpatch`), its `AsyncClient` drives the
server API.

tabhub runs with `--app-url http://HOST:PORT/tabhub` and calls
`POST /tabhub/{initial_state,join,event,cancel,presence}` (the last with
tabhub's `--app-presence`). Background jobs run here,
as asyncio tasks, and report progress through the server API
(`POST {TABHUB_API_URL}/sessions/{key}/state`, then `.../tasks/{job}/end`).

State of a session: `{"todos": [{"id", "text", "done"}], "jobs": {KEY:
{"progress", "steps", "status"}}, "chain_count": N}`, and with
`--app-presence` `"here": [{"tab", "visible"}]`, as the binary's demo.

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
import logging
import os
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field, StrictStr

from background_jobs import Jobs
from tabhub.fastapi import install_unauthorized_handler, proxy_router
from tabhub.proxy import (
    CancelCall,
    Context,
    EventError,
    JoinCall,
    PresenceCall,
    ProxyApp,
    deny,
    handler_error,
    invalid_payload,
    pointer,
    quoted,
)

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


def env(name: str) -> str | None:
    return os.environ.get(name) or None


def summary(state: dict[str, Any]) -> dict[str, int]:
    """The demo's summary (docs/protocol.md section 5.8 (summary joins))."""
    todos = state.get("todos") or []
    jobs = state.get("jobs") or {}
    return {
        "todos": len(todos),
        "open": sum(1 for t in todos if not t.get("done")),
        "jobs_running": sum(1 for j in jobs.values() if j.get("status") == "running"),
    }


demo = ProxyApp(summary=summary)
jobs = Jobs(summary)


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


# --------------------------------------------------------------------------
# Events


def todo_index(state: dict[str, Any], todo_id: str) -> int:
    for i, todo in enumerate(state.get("todos") or []):
        if todo.get("id") == todo_id:
            return i
    raise handler_error(f"no todo with id {quoted(todo_id)}")


def add_todo(ctx: Context, text: str) -> str:
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
    ctx.change.add(pointer("todos", "-"), {"id": todo_id, "text": text, "done": False})
    return todo_id


@demo.event("add_todo")
def on_add_todo(ctx: Context, p: TextPayload) -> None:
    add_todo(ctx, p.text)


@demo.event("add_todo_after")
async def on_add_todo_after(ctx: Context, p: AddTodoAfterPayload) -> None:
    if p.delay_ms > MAX_DELAY_MS:
        raise invalid_payload(f"delay_ms must be at most {MAX_DELAY_MS}")
    # Stands for a slow call (a database, another service): the session's
    # next event waits its turn; other sessions go on.
    await asyncio.sleep(p.delay_ms / 1000)
    ctx.reply({"id": add_todo(ctx, p.text)})


@demo.event("toggle_todo")
def on_toggle_todo(ctx: Context, p: IdPayload) -> None:
    state = ctx.need_state()
    i = todo_index(state, p.id)
    ctx.change.replace(pointer("todos", i, "done"), not state["todos"][i].get("done"))


@demo.event("remove_todo")
def on_remove_todo(ctx: Context, p: IdPayload) -> None:
    i = todo_index(ctx.need_state(), p.id)
    ctx.change.remove(pointer("todos", i))


@demo.event("toast")
def on_toast(ctx: Context, p: TextPayload) -> None:
    ctx.effect("toast", {"text": p.text})


@demo.event("start_job")
def on_start_job(ctx: Context, p: StartJobPayload) -> None:
    if not p.key or not 1 <= p.steps <= MAX_STEPS or p.step_ms > MAX_STEP_MS:
        raise invalid_payload(
            f"need a non-empty key, 1..={MAX_STEPS} steps and at most {MAX_STEP_MS} step_ms"
        )
    if jobs.api is None:
        raise handler_error("this backend has no server API (set TABHUB_API_URL)")
    if jobs.running(ctx.key, p.key):
        raise handler_error(f"task {quoted(p.key)} is already running")
    ctx.change.add(pointer("jobs", p.key), {"progress": 0, "steps": p.steps, "status": "running"})
    ctx.start_task(p.key, jobs.start(ctx.key, p.key, p.steps, p.step_ms))


@demo.event("chain_demo")
def on_chain_demo(ctx: Context, p: CountPayload) -> None:
    if p.n < 1:
        raise invalid_payload("n must be at least 1")
    ctx.chain("chain_step", {"n": p.n})


@demo.event("chain_step")
def on_chain_step(ctx: Context, p: CountPayload) -> None:
    state = ctx.need_state()
    ctx.change.replace(pointer("chain_count"), int(state.get("chain_count") or 0) + 1)
    if p.n > 1:
        ctx.chain("chain_step", {"n": p.n - 1})


@demo.event("sleep")
async def on_sleep(ctx: Context, p: SleepPayload) -> None:
    """Test hook: a slow backend (for `--app-timeout-ms`)."""
    ms = min(p.ms, MAX_SLEEP_MS)
    await asyncio.sleep(ms / 1000)
    ctx.reply({"slept": ms})


# --------------------------------------------------------------------------
# The other calls


@demo.initial_state
def initial_state(_call: Any) -> dict[str, Any]:
    return {"todos": [], "jobs": {}, "chain_count": 0}


@demo.join
def join(call: JoinCall) -> Any:
    if call.connect_params.get("blocked") == "yes":
        return deny("blocked (connect param blocked=yes)")
    cookie = env("TABHUB_EXAMPLE_REQUIRE_COOKIE")
    if cookie is not None and cookie not in cookie_names(call.headers.get("cookie", "")):
        return deny(f"missing cookie {cookie}")
    return True


def cookie_names(header: str) -> set[str]:
    """The names in a `Cookie` header (`a=1; b=2`)."""
    return {part.split("=", 1)[0].strip() for part in header.split(";") if "=" in part}


@demo.cancel
def cancel(ctx: Context, call: CancelCall) -> None:
    jobs.cancel(call.key, call.task)
    job_map = ctx.state.get("jobs") if ctx.state is not None else None
    if isinstance(job_map, dict) and isinstance(job_map.get(call.task), dict):
        ctx.change.replace(pointer("jobs", call.task, "status"), "cancelled")


@demo.presence
def presence(ctx: Context, call: PresenceCall) -> None:
    """Who has the session open: the whole list each time, so a list saved
    before a restart is put right by the first join."""
    here = [{"tab": t.tab_id, "visible": t.visible} for t in call.tabs]
    if here:
        ctx.change.add("/here", here)  # adds or replaces the member
    elif ctx.state is not None and "here" in ctx.state:
        ctx.change.remove("/here")


# --------------------------------------------------------------------------
# The app


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    jobs.open(env("TABHUB_API_URL"), env("TABHUB_API_TOKEN"))
    try:
        yield
    finally:
        await jobs.close()


app = FastAPI(title="tabhub example backend", lifespan=lifespan)
install_unauthorized_handler(app)
app.include_router(proxy_router(demo, prefix="/tabhub", app_token=env("TABHUB_APP_TOKEN")))


@app.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
