"""The sync and async clients against the real tabhub (its built-in demo
app: `add_todo {text}` appends a todo)."""

from __future__ import annotations

import pytest

from conftest import API_TOKEN, Tabhub, new_key
from tabhub import NO_RETRY, ApiError, AsyncClient, Client, Retry, TaskGone


def test_an_event_submitted_is_in_the_state_read_back(tabhub: Tabhub) -> None:
    key = new_key()
    with Client(tabhub.api_url, API_TOKEN) as api:
        reply = api.submit_event(key, "add_todo", {"text": "milk"})
        assert reply.ok and reply.seq == 1 and reply.data is None
        session = api.read_session(key)
    assert session.seq == 1
    assert [t["text"] for t in session.state["todos"]] == ["milk"]
    assert session.tabs == []
    assert session.epoch


def test_a_refused_event_is_an_error_reply_not_an_exception(tabhub: Tabhub) -> None:
    with Client(tabhub.api_url, API_TOKEN) as api:
        reply = api.submit_event(new_key(), "no_such_event", {})
    assert not reply.ok
    assert reply.reason == "unknown_event"
    assert reply.message


def test_a_repeated_event_id_happens_once_and_gets_the_first_reply(tabhub: Tabhub) -> None:
    key = new_key()
    with Client(tabhub.api_url, API_TOKEN) as api:
        first = api.submit_event(key, "add_todo", {"text": "once"}, id="order-17")
        again = api.submit_event(key, "add_todo", {"text": "once"}, id="order-17")
        assert again == first
        assert len(api.read_session(key).state["todos"]) == 1


def test_state_changes_effects_stop_stats_and_delete(tabhub: Tabhub) -> None:
    key = new_key()
    with Client(tabhub.api_url, API_TOKEN) as api:
        api.submit_event(key, "add_todo", {"text": "a"})
        op = {"op": "replace", "path": "/todos/0/done", "value": True}
        assert api.change_state(key, patch=[op]) == 2
        assert api.read_session(key).state["todos"][0]["done"] is True
        api.send_effect(key, "toast", {"text": "hi"})
        assert api.stats().sessions >= 1
        assert api.stop_session(key) is True
        assert api.delete_session(key) is True
        assert api.read_session(key).seq == 0, "a deleted session starts over"


def test_a_patch_that_does_not_apply_is_refused_and_not_retried(tabhub: Tabhub) -> None:
    tries: list[int] = []
    retry = Retry(on_retry=lambda attempt, _e: tries.append(attempt))
    with Client(tabhub.api_url, API_TOKEN, retry=retry) as api:
        bad = {"op": "remove", "path": "/no/such/member"}
        with pytest.raises(ApiError) as refused:
            api.change_state(new_key(), patch=[bad])
    assert (refused.value.status, refused.value.reason) == (422, "invalid_change")
    assert tries == []


def test_ending_a_task_that_is_not_running_is_task_gone(tabhub: Tabhub) -> None:
    with Client(tabhub.api_url, API_TOKEN) as api, pytest.raises(TaskGone) as gone:
        api.end_task(new_key(), "job/1", "done")
    assert gone.value.status == 410


def test_a_wrong_token_is_unauthorized(tabhub: Tabhub) -> None:
    with Client(tabhub.api_url, "not-the-token", retry=NO_RETRY) as api:
        with pytest.raises(ApiError) as refused:
            api.stats()
    assert (refused.value.status, refused.value.reason) == (401, "unauthorized")
    assert new_key() not in str(refused.value)


@pytest.mark.anyio
async def test_the_async_client_submits_reads_and_cancels(tabhub: Tabhub) -> None:
    key = new_key()
    async with AsyncClient(tabhub.api_url, API_TOKEN) as api:
        reply = await api.submit_event(key, "add_todo", {"text": "async"})
        assert reply.ok and reply.seq == 1
        job = {"key": "report/1", "steps": 1000, "step_ms": 1000}
        assert (await api.submit_event(key, "start_job", job)).ok
        assert await api.cancel_task(key, "report/1") is True
        assert await api.cancel_task(key, "report/1") is False
        session = await api.read_session(key)
        assert session.state["todos"][0]["text"] == "async"
        assert (await api.stats()).sessions >= 1


def test_sessions_are_listed_by_short_key_page_by_page(tabhub: Tabhub) -> None:
    keys = [new_key() for _ in range(3)]
    with Client(tabhub.api_url, API_TOKEN) as api:
        for key in keys:
            api.submit_event(key, "add_todo", {"text": "x"})
            api.stop_session(key)
        shown: list[str] = []
        cursor = None
        while True:
            page = api.list_sessions(limit=2, cursor=cursor)
            assert len(page.sessions) <= 2
            shown += [row.key for row in page.sessions]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        for key in keys:
            assert f"{key[:6]}\u2026" in shown
            assert key not in shown
        api.submit_event(keys[0], "add_todo", {"text": "y"})
        live = api.list_sessions(live=True)
        row = next(r for r in live.sessions if r.key == f"{keys[0][:6]}\u2026")
        assert row.live and row.seq == 2 and row.tabs == 0
        with pytest.raises(ApiError) as refused:
            api.list_sessions(cursor="not-a-cursor")
        assert refused.value.status == 400 and refused.value.reason == "invalid_query"


@pytest.mark.anyio
async def test_the_async_client_lists_sessions_too(tabhub: Tabhub) -> None:
    async with AsyncClient(tabhub.api_url, API_TOKEN) as api:
        await api.submit_event(new_key(), "add_todo", {"text": "x"})
        page = await api.list_sessions(live=True, limit=1000)
        assert any(row.live for row in page.sessions)
