"""The app proxy helpers serving the real tabhub: a small FastAPI backend
(a `ProxyApp` behind `proxy_router`, in a thread) and `tabhub --app-url`
pointing at it, driven through the server API."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from conftest import API_TOKEN, Backend, Tabhub, new_key, start_tabhub
from tabhub import AsyncClient, Client
from tabhub.fastapi import install_unauthorized_handler, proxy_router
from tabhub.proxy import CancelCall, Context, EventError, ProxyApp, patch_between, pointer

APP_TOKEN = "proxy-helpers-app-token"


class Item(BaseModel):
    name: str
    count: int


def build_app(api_url: list[str]) -> FastAPI:
    """A counter app: `items` by name, a summary of how many."""
    counter = ProxyApp(summary=lambda state: {"items": len(state.get("items", {}))})

    @counter.event("put")
    def put(ctx: Context, item: Item) -> None:
        if item.count < 0:
            raise EventError("negative", "counts are not negative", {"count": item.count})
        if "items" not in ctx.need_state():
            ctx.change.add("/items", {})
        ctx.change.add(pointer("items", item.name), item.count)
        ctx.reply({"stored": item.name})

    @counter.event("drop")
    def drop(ctx: Context, name: str) -> None:
        ctx.change.remove(pointer("items", name))

    @counter.event("double_all")
    def double_all(ctx: Context, _payload: Any) -> None:
        # Write the new state; jsonpatch finds the patch.
        after = copy.deepcopy(ctx.need_state())
        after["items"] = {k: v * 2 for k, v in after["items"].items()}
        ctx.change.to(after)

    @counter.event("slow_job")
    async def slow_job(ctx: Context, name: str) -> None:
        key = ctx.key

        async def work() -> None:
            # After the answer: the task is running in tabhub by now.
            async with AsyncClient(api_url[0], API_TOKEN) as api:
                await api.end_task(key, name, "done", patch=[{"op": "add", "path": "/done", "value": name}])

        ctx.change.add("/started", name)
        ctx.start_task(name, work)

    @counter.event("park")
    def park(ctx: Context, name: str) -> None:
        ctx.start_task(name)

    @counter.cancel
    def cancelled(ctx: Context, call: CancelCall) -> None:
        ctx.change.add("/cancelled", call.task)

    app = FastAPI()
    install_unauthorized_handler(app)
    app.include_router(proxy_router(counter, prefix="/hooks", app_token=APP_TOKEN))
    return app


@pytest.fixture
def pair() -> Iterator[tuple[Tabhub, Backend]]:
    api_url: list[str] = []
    backend = Backend(build_app(api_url))
    hub = start_tabhub("--app-url", f"{backend.url}/hooks", "--app-token", APP_TOKEN)
    api_url.append(hub.api_url)
    yield hub, backend
    hub.stop()
    backend.stop()


def test_events_answer_patches_replies_errors_and_summaries(pair: tuple[Tabhub, Backend]) -> None:
    hub, _ = pair
    key = new_key()
    with Client(hub.api_url, API_TOKEN) as api:
        reply = api.submit_event(key, "put", {"name": "a/b", "count": 2})
        assert (reply.ok, reply.seq, reply.data) == (True, 1, {"stored": "a/b"})
        api.submit_event(key, "put", {"name": "c", "count": 5})
        assert api.read_session(key).state == {"items": {"a/b": 2, "c": 5}}, "no initial_state: {}"

        refused = api.submit_event(key, "put", {"name": "d", "count": -1})
        assert (refused.reason, refused.data) == ("negative", {"count": -1})
        wrong = api.submit_event(key, "put", {"name": "d"})
        assert wrong.reason == "invalid_payload" and "count" in (wrong.message or "")
        assert api.submit_event(key, "nope", None).reason == "unknown_event"
        # A change that does not apply to the state is found by the backend.
        gone = api.submit_event(key, "drop", "no such item")
        assert gone.reason == "handler_error" and "does not apply" in (gone.message or "")
        assert api.submit_event(key, "put", {"name": "c", "count": 1}).seq == 3

        assert api.submit_event(key, "double_all", None).ok
        assert api.read_session(key).state == {"items": {"a/b": 4, "c": 2}}


def test_work_queued_after_the_answer_ends_its_task_through_the_client(
    pair: tuple[Tabhub, Backend],
) -> None:
    hub, _ = pair
    key = new_key()
    with Client(hub.api_url, API_TOKEN) as api:
        assert api.submit_event(key, "slow_job", "job/1").ok
        for _ in range(200):
            state = api.read_session(key).state
            if "done" in state:
                break
            time.sleep(0.05)
        assert state == {"started": "job/1", "done": "job/1"}


def test_a_cancel_reaches_the_cancel_handler(pair: tuple[Tabhub, Backend]) -> None:
    hub, _ = pair
    key = new_key()
    with Client(hub.api_url, API_TOKEN) as api:
        assert api.submit_event(key, "park", "p1").ok
        assert api.cancel_task(key, "p1") is True
        for _ in range(200):
            if api.read_session(key).state.get("cancelled") == "p1":
                break
            time.sleep(0.05)
        assert api.read_session(key).state == {"cancelled": "p1"}


def test_calls_without_the_app_token_are_unauthorized(pair: tuple[Tabhub, Backend]) -> None:
    _, backend = pair
    call = {"key": new_key(), "tab_id": "t", "params": {}, "connect_params": {}}
    r = httpx.post(f"{backend.url}/hooks/join", json=call)
    assert r.status_code == 401 and r.json()["reason"] == "unauthorized"
    ok = httpx.post(f"{backend.url}/hooks/join", json=call, headers={"authorization": f"Bearer {APP_TOKEN}"})
    assert ok.json() == {"allow": True}
    missing = httpx.post(
        f"{backend.url}/hooks/initial_state",
        json={"key": call["key"]},
        headers={"authorization": f"Bearer {APP_TOKEN}"},
    )
    assert missing.status_code == 404, "no initial state: tabhub starts from {}"


def test_patch_between_is_jsonpatch_s_diff() -> None:
    before = {"todos": [{"id": "1", "done": False}]}
    after = {"todos": [{"id": "1", "done": True}], "n": 1}
    ops = patch_between(before, after)
    assert sorted(op["path"] for op in ops) == ["/n", "/todos/0/done"]
    assert pointer("jobs", "a/b~c") == "/jobs/a~1b~0c"


@pytest.mark.anyio
async def test_answers_carry_the_summary_of_the_state_after_the_change() -> None:
    from tabhub.proxy import EventCall

    app = ProxyApp(summary=lambda state: {"n": len(state["xs"])})

    @app.event("push")
    def push(ctx: Context, x: int) -> None:
        ctx.change.add("/xs/-", x)

    call = {"key": new_key(), "event": {"id": "e1", "name": "push", "payload": 7}, "seq": 3}
    with_state, _ = await app.handle_event(EventCall.model_validate({**call, "state": {"xs": [1]}}))
    assert with_state == {"patch": [{"op": "add", "path": "/xs/-", "value": 7}], "summary": {"n": 2}}
    without, _ = await app.handle_event(EventCall.model_validate(call))
    assert without == {"patch": [{"op": "add", "path": "/xs/-", "value": 7}]}, "--app-no-state"


@pytest.mark.anyio
async def test_a_presence_change_reaches_the_presence_handler_and_none_is_a_404() -> None:
    from tabhub.proxy import PresenceCall

    call = PresenceCall.model_validate(
        {
            "key": new_key(),
            "change": "left",
            "seq": 4,
            "state": {"here": ["a", "b"]},
            "tab": {"tab_id": "b", "visible": False, "headers": {"cookie": "u=1"}},
            "tabs": [{"tab_id": "a", "visible": True}],
        }
    )
    assert call.tab.headers == {"cookie": "u=1"} and call.has_state
    assert await ProxyApp().handle_presence(call) is None, "no handler: 404, no change"

    app = ProxyApp(summary=lambda state: {"here": len(state["here"])})

    @app.presence
    def presence(ctx: Context, change: PresenceCall) -> None:
        ctx.change.to({"here": [t.tab_id for t in change.tabs]})
        ctx.effect("presence", {"change": change.change, "tab": change.tab.tab_id})

    answer = await app.handle_presence(call)
    assert answer is not None
    assert answer["patch"] == [{"op": "remove", "path": "/here/1"}]
    assert answer["summary"] == {"here": 1}
    assert answer["effects"] == [{"kind": "presence", "data": {"change": "left", "tab": "b"}, "to": "origin"}]
