"""A TCP proxy on loopback, in a thread of its own, that can play a server going away.

Put it between a client and a real server (PostgreSQL, say) and call ``outage()``: every
connection through it is reset on both sides and new ones are refused, as while a server
restarts, until ``restore()`` listens again on the same port. ``outage(stall=…)`` first
holds every byte for a while, so that requests are certainly in flight when the cut comes.
"""

import asyncio
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CHUNK = 65536


class TcpProxy:
    """Listens on ``127.0.0.1:port`` (chosen by ``start()``, kept across outages) and
    carries each connection to the upstream server."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.accepted = 0  # connections accepted so far, across outages
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy")
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None  # made on the proxy's loop
        self._links: set[asyncio.Task[None]] = set()
        self._transports: set[asyncio.BaseTransport] = set()

    def start(self) -> "TcpProxy":
        self._thread.start()
        self._run(self._listen())
        return self

    def stop(self) -> None:
        self._run(self._cut(0.0))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def outage(self, stall: float = 0.0) -> None:
        """Hold every byte for ``stall`` seconds, then reset every connection and refuse
        new ones, until ``restore()``."""
        self._run(self._cut(stall))

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        self._run(self._listen())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        if self._flowing is None:
            self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(
            self._link, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self, stall: float) -> None:
        assert self._flowing is not None
        self._flowing.clear()
        await asyncio.sleep(stall)
        if self._server is not None:
            self._server.close()  # the listening socket goes: connecting is refused
            self._server = None
        for transport in list(self._transports):
            _reset(transport)
        self._transports.clear()
        self._flowing.set()  # what was held has nowhere to go now: let the links see that
        # Each link ends by itself once its sockets are gone (cancelling it would have
        # asyncio log the cancellation as an error).
        await asyncio.gather(*self._links, return_exceptions=True)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        self.accepted += 1
        try:
            await self._carry(reader, writer)
        finally:
            self._links.discard(task)

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Connect upstream and copy both ways until either side goes."""
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(writer.transport)
            return
        if self._server is None:  # the outage began while this one was connecting
            _reset(writer.transport)
            _reset(up_writer.transport)
            return
        both = (writer.transport, up_writer.transport)
        self._transports.update(both)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for transport in both:
                self._transports.discard(transport)
                transport.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy until the sender closes, then pass the close on (a reset as a reset)."""
        assert self._flowing is not None
        try:
            while data := await reader.read(CHUNK):
                await self._flowing.wait()
                if writer.transport.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            _reset(writer.transport)
            return
        if writer.can_write_eof():
            writer.write_eof()


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close with an RST rather than a FIN: the peer's next read or write fails at once."""
    if transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
