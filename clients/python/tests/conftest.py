"""Fixtures: the real tabhub binary (``TABHUB_BIN``) on a free port, and a
FastAPI backend served by uvicorn in a thread of the test process.

The tests fail (never skip) when ``TABHUB_BIN`` is not set: build tabhub
(``cargo build``) and run them with ``TABHUB_BIN=target/debug/tabhub``, or
through ``cargo test --test python_package``, which sets it."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

API_TOKEN = "python-package-tests-token"
# How long a process may take to listen (s): generous, the machine is shared.
START_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Tabhub:
    """A running tabhub: its address and its server API."""

    process: subprocess.Popen[bytes]
    addr: str
    log: str

    @property
    def api_url(self) -> str:
        return f"http://{self.addr}/api"

    def output(self) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_tabhub(*args: str) -> Tabhub:
    """`tabhub --store memory --api-token ... ARGS` on a free port, once
    `/healthz` answers."""
    binary = os.environ.get("TABHUB_BIN")
    if not binary or not os.path.isfile(binary):
        pytest.fail(
            f"TABHUB_BIN ({binary!r}) is not the tabhub binary: run `cargo build` and set "
            "TABHUB_BIN=target/debug/tabhub, or run `cargo test --test python_package`"
        )
    addr = f"127.0.0.1:{free_port()}"
    log = tempfile.NamedTemporaryFile(prefix="tabhub-", suffix=".log", delete=False)
    command = [binary, "--bind", addr, "--store", "memory", "--api-token", API_TOKEN, *args]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    hub = Tabhub(process, addr, log.name)
    deadline = time.monotonic() + START_S
    while True:
        try:
            if httpx.get(f"http://{addr}/healthz", timeout=1).is_success:
                return hub
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            hub.stop()
            pytest.fail(f"tabhub did not start on {addr}:\n{hub.output()}")
        time.sleep(0.05)


@pytest.fixture
def tabhub() -> Iterator[Tabhub]:
    """tabhub with its built-in demo app."""
    hub = start_tabhub()
    yield hub
    hub.stop()


class Backend:
    """A FastAPI app served by uvicorn in a thread, on a free port."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the test backend did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join()


def new_key() -> str:
    """A fresh session key (22 to 128 characters)."""
    return "py-" + os.urandom(16).hex()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
