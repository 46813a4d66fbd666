"""The daemon's HTTP server serves a bounded number of connections at once: clients that
connect and say nothing cannot pile up threads, and a freed slot serves again."""

import http.client
import socket
import time

import pytest

from runner import health
from runner.health import HealthServer
from runner.metrics import Metrics


def healthz(port: int) -> int | None:
    """/healthz's status, or None when the connection was closed without an answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    except (ConnectionError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def test_connections_past_the_bound_are_closed_and_a_freed_slot_serves_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health._Server, "max_clients", 3)
    with HealthServer("127.0.0.1", 0, Metrics(), lambda: True, lambda: True) as server:
        silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
        try:
            assert healthz(server.port) is None  # the three hold every slot
            silent.pop().close()  # its handler reads the end, and frees its slot
            deadline = time.monotonic() + 5
            while (status := healthz(server.port)) is None and time.monotonic() < deadline:
                time.sleep(0.05)  # the freed handler's thread is still ending
            assert status == 200
        finally:
            for sock in silent:
                sock.close()
