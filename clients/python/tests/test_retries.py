"""Retries on real refusals: tabhub at its session limit answers `503
capacity` (`--max-sessions 1`), and a stopped tabhub does not answer."""

from __future__ import annotations

import pytest

from conftest import API_TOKEN, free_port, new_key, start_tabhub
from tabhub import ApiError, AsyncClient, Client, Retry, Unreachable


def test_a_503_is_retried_until_the_service_has_room() -> None:
    hub = start_tabhub("--max-sessions", "1")
    try:
        held, wanted = new_key(), new_key()
        admin = Client(hub.api_url, API_TOKEN)
        admin.read_session(held)  # the one live session

        seen: list[tuple[int, int | None, str]] = []

        def make_room(attempt: int, error: ApiError) -> None:
            seen.append((attempt, error.status, error.reason))
            admin.stop_session(held)

        with Client(hub.api_url, API_TOKEN, retry=Retry(on_retry=make_room)) as api:
            reply = api.submit_event(wanted, "add_todo", {"text": "got in"})
        assert reply.ok and reply.seq == 1
        assert seen == [(1, 503, "capacity")]
        admin.close()
    finally:
        hub.stop()


@pytest.mark.anyio
async def test_retries_are_bounded_and_the_last_503_is_raised() -> None:
    hub = start_tabhub("--max-sessions", "1")
    try:
        tries: list[int] = []
        retry = Retry(attempts=3, backoff_s=0.01, on_retry=lambda n, _e: tries.append(n))
        async with AsyncClient(hub.api_url, API_TOKEN, retry=retry) as api:
            await api.read_session(new_key())
            with pytest.raises(ApiError) as refused:
                await api.submit_event(new_key(), "add_todo", {"text": "no room"})
        assert (refused.value.status, refused.value.reason) == (503, "capacity")
        assert tries == [1, 2], "three tries in all"
    finally:
        hub.stop()


def test_no_answer_is_unreachable_after_the_retries() -> None:
    tries: list[int] = []
    retry = Retry(attempts=2, backoff_s=0.01, on_retry=lambda n, _e: tries.append(n))
    nobody = f"http://127.0.0.1:{free_port()}/api"
    with Client(nobody, API_TOKEN, retry=retry) as api, pytest.raises(Unreachable) as down:
        # Not idempotent, but a refused connection never reached tabhub.
        api.change_state(new_key(), patch=[])
    assert down.value.status is None and down.value.not_sent
    assert tries == [1]
