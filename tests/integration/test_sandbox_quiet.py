"""Quiet tools: a client hanging up on the sandbox prints nothing; a real bug in a route still prints its
traceback (issue 14, "Quiet tools")."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.sandbox import server as sandbox_server
from tzbackup_gui.sandbox.state import RequestRecord

REQUEST = b"GET /api/users/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n"


@pytest.fixture
def seen_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException | None]]:
    """Every exception that reached the server's ``handle_error`` (the real one still runs)."""
    seen: list[BaseException | None] = []
    real = sandbox_server._Server.handle_error

    def spy(self: Any, request: Any, client_address: Any) -> None:
        import sys

        seen.append(sys.exc_info()[1])
        real(self, request, client_address)

    monkeypatch.setattr(sandbox_server._Server, "handle_error", spy)
    yield seen


def _wait_idle(sb: SandboxServer, timeout: float = 5.0) -> None:
    """Until every connection's handler has finished (handle_error runs before the socket is released)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sb._httpd.open_lock:
            if not sb._httpd.open_sockets:
                return
        time.sleep(0.01)
    raise AssertionError("the sandbox still holds a connection")


def _hang_up_mid_response(sb: SandboxServer) -> None:
    """Send a request, then reset the connection (RST) while the sandbox holds its answer back, so its
    write fails the way a killed or cancelled client makes it fail."""
    received, release = threading.Event(), threading.Event()

    def hold(record: RequestRecord) -> None:
        received.set()
        release.wait(5)

    sb.state.hooks.append(hold)
    try:
        client = socket.create_connection(("127.0.0.1", sb.port), timeout=5)
        client.sendall(REQUEST)
        assert received.wait(5), "the sandbox never saw the request"
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # linger 0: the peer gets a reset, not a polite end of stream
        time.sleep(0.05)
    finally:
        release.set()
        sb.state.hooks.remove(hold)
    _wait_idle(sb)


def test_a_client_hanging_up_mid_response_prints_nothing(
    capfd: pytest.CaptureFixture[str], seen_errors: list[BaseException | None]
) -> None:
    with SandboxServer(port=0, seed=1) as sb:
        for _ in range(3):
            _hang_up_mid_response(sb)
            if seen_errors:
                break
        # and the sandbox still serves the next client
        with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as client:
            client.sendall(REQUEST)
            assert client.recv(64).startswith(b"HTTP/1.1 401")
    assert seen_errors, "no hang-up reached the server: the test did not exercise the case"
    assert all(isinstance(e, sandbox_server.HANG_UPS) for e in seen_errors), seen_errors
    out, err = capfd.readouterr()
    assert err == "" and out == ""


def test_a_real_error_in_a_route_still_prints_its_traceback(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in a sandbox route")

    monkeypatch.setattr(sandbox_server, "answer", broken)
    with SandboxServer(port=0, seed=1) as sb:
        with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as client:
            client.sendall(REQUEST)
            client.recv(64)  # the connection just ends
        _wait_idle(sb)
    err = capfd.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug in a sandbox route" in err
