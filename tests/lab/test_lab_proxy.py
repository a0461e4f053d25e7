"""The delaying TCP proxy, against real sockets on 127.0.0.1 (no root needed).

The delay itself is checked with a frozen clock and a recording ``sleep``: the proxy
must ask to hold every chunk for exactly ``delay_ms``.  No wall-clock assertions.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
from collections.abc import Iterator

import pytest

from fleet.lab.proxy import DelayProxy, Route


def echo_server() -> tuple[socket.socket, threading.Thread]:
    """A one-connection echo server; returns its listener and serving thread."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@pytest.fixture
def proxied() -> Iterator[tuple[tuple[str, int], list[float]]]:
    """A proxy with delay 250 ms in front of an echo server; yields (address, sleeps asked)."""
    target, thread = echo_server()
    front = socket.create_server(("127.0.0.1", 0))
    asked: list[float] = []

    async def record(seconds: float) -> None:
        asked.append(seconds)
        await asyncio.sleep(0)

    route = Route("node01", front, target.getsockname(), delay_ms=250)
    proxy = DelayProxy([route], log=lambda _: None, clock=lambda: 1000.0, sleep=record)
    proxy.start()
    yield front.getsockname(), asked
    proxy.stop()
    target.close()
    thread.join(5)


def exchange(address: tuple[str, int], payload: bytes) -> bytes:
    with socket.create_connection(address, 10) as sock:
        sock.settimeout(10)
        sender = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(1)))
        sender.start()
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        sender.join()
    return received


def test_bytes_pass_in_order_both_ways(proxied: tuple[tuple[str, int], list[float]]) -> None:
    address, _ = proxied
    payload = os.urandom(3 * 1024 * 1024)
    received = exchange(address, payload)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_every_chunk_is_held_for_the_delay(proxied: tuple[tuple[str, int], list[float]]) -> None:
    address, asked = proxied
    assert exchange(address, b"ping\n") == b"ping\n"
    # With the clock frozen, each delivery (data and end-of-stream, both ways) asks for 0.25 s.
    assert len(asked) >= 3
    assert set(asked) == {0.25}


def test_unreachable_target_closes_the_client_connection() -> None:
    dead = socket.create_server(("127.0.0.1", 0))
    target = dead.getsockname()
    dead.close()
    front = socket.create_server(("127.0.0.1", 0))
    logged: list[str] = []
    proxy = DelayProxy([Route("node09", front, target, 10)], log=logged.append)
    proxy.start()
    try:
        with socket.create_connection(front.getsockname(), 10) as sock:
            sock.settimeout(10)
            assert sock.recv(10) == b""
    finally:
        proxy.stop()
    assert logged and logged[0].startswith("node09: proxy cannot reach")
