"""A delaying TCP proxy: latency for lab hosts without ``tc netem``.

A host with ``delay_ms: N`` gets this proxy on its public address and port; its
SSH server listens on an internal port behind it.  Every chunk read in either
direction is held for N ms and then written, in order, while later chunks are
already being read: it adds latency (a round trip costs 2 x N ms) without
limiting throughput, like netem's ``delay`` on both ends of a link.  One event
loop thread serves every delayed host of a lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

_CHUNK = 65536


@dataclass(frozen=True)
class Route:
    """Connections accepted on ``listener`` go to ``target`` with ``delay_ms`` each way."""

    name: str
    listener: socket.socket  # bound and listening
    target: tuple[str, int]
    delay_ms: int


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


async def _delayed_copy(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    clock: Clock,
    sleep: Sleep,
) -> None:
    """Copy one direction, holding each chunk for ``delay`` seconds, preserving order."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            await sleep(max(0.0, due - clock()))
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    delivery = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(_CHUNK)
            queue.put_nowait((clock() + delay, data))
            if not data:
                break
        await delivery
    finally:
        delivery.cancel()


class DelayProxy:
    """Runs every route in one background event loop.  ``start`` then ``stop``."""

    def __init__(
        self,
        routes: Sequence[Route],
        log: Callable[[str], None],
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``clock`` and ``sleep`` default to the event loop's; tests pass a frozen clock."""
        self.routes = list(routes)
        self.log = log
        self.loop = asyncio.new_event_loop()
        self.clock = clock or self.loop.time
        self.sleep = sleep
        self.thread: threading.Thread | None = None
        self.ready = threading.Event()
        self.servers: list[asyncio.AbstractServer] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if not self.routes:
            return
        self.thread = threading.Thread(target=self._run, name="lab-proxy", daemon=True)
        self.thread.start()
        self.ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._listen())
        self.ready.set()
        self.loop.run_forever()
        self.loop.close()

    async def _listen(self) -> None:
        for route in self.routes:
            route.listener.setblocking(False)
            server = await asyncio.start_server(
                lambda r, w, route=route: self._connection(r, w, route), sock=route.listener
            )
            self.servers.append(server)

    def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, route: Route
    ) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._relay(reader, writer, route))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, route: Route
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*route.target)
        except OSError as exc:
            self.log(f"{route.name}: proxy cannot reach {route.target[0]}:{route.target[1]}: {exc}")
            writer.close()
            return
        delay = route.delay_ms / 1000.0
        copies = [
            asyncio.ensure_future(_delayed_copy(reader, up_writer, delay, self.clock, self.sleep)),
            asyncio.ensure_future(_delayed_copy(up_reader, writer, delay, self.clock, self.sleep)),
        ]
        try:
            # A half-close is passed on and the other direction keeps flowing; an error on
            # either side ends both.
            await asyncio.wait(copies, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for copy in copies:
                copy.cancel()
            await asyncio.gather(*copies, return_exceptions=True)
            writer.close()
            up_writer.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Close listeners and every proxied connection; return when the loop thread ended."""
        if self.thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)

    async def _shutdown(self) -> None:
        for server in self.servers:
            server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for server in self.servers:
            await server.wait_closed()
