"""Fetching a customer's attachment: real HTTP servers on loopback, the callback rules on
every hop, a size cap that does not read what it refuses, one timeout for the whole fetch.

Where a test needs an address that passes the rules with private addresses refused, DNS is
a fake and ``PublicInternet`` stands in for the internet: a connection to one of its public
addresses reaches the loopback server listening on the same port.
"""

import asyncio
import contextlib
import gzip
import hashlib
import os
import socket
import struct
import tempfile
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from api.relay.file_fetch import FileFetcher
from bot.files import FetchedFile, NotFetched

MiB = 1024 * 1024
PUBLIC_A, PUBLIC_B = "93.184.216.34", "93.184.216.35"
OPT_IN = "BATON_ALLOW_PRIVATE_CALLBACKS"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _png() -> bytes:
    """A real 2 by 2 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\x00\xff\x00" * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = _png()


@dataclass
class Served:
    """A server on loopback: its port, and the path and headers of every request it got."""

    port: int
    host: str = "127.0.0.1"
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


@contextlib.asynccontextmanager
async def serve(handlers: dict[str, Handler], host: str = "127.0.0.1") -> AsyncIterator[Served]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    served = Served(sock.getsockname()[1], f"[{host}]" if ":" in host else host)

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        served.seen.append((request.path_qs, dict(request.headers)))
        return await handler(request)

    app = web.Application(middlewares=[record])
    for path, handler in handlers.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield served
    finally:
        await runner.cleanup()


class Dns:
    """Answers only the names it knows."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    async def __call__(self, host: str, port: int) -> list[str]:
        if host not in self.answers:
            raise OSError("Name or service not known")
        return [self.answers[host]]


class PublicInternet(httpx.AsyncBaseTransport):
    """A connection to one of ``public`` reaches loopback on the same port; every address
    connected to is recorded, as the request's URL names it."""

    def __init__(self, *public: str) -> None:
        self.public = set(public)
        self.connected: list[str] = []
        self._loopback = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.connected.append(request.url.host)
        if request.url.host in self.public:
            request.url = request.url.copy_with(host="127.0.0.1")
        return await self._loopback.handle_async_request(request)

    async def aclose(self) -> None:
        await self._loopback.aclose()


@contextlib.asynccontextmanager
async def fetcher(
    *, max_bytes: int = 25 * MiB, allow_private: bool = True, seconds: float = 5.0, **more: Any
) -> AsyncIterator[FileFetcher]:
    fetching = FileFetcher(
        max_bytes=max_bytes, allow_private=allow_private, timeout=seconds, **more
    )
    try:
        yield fetching
    finally:
        await fetching.aclose()


async def refusal(fetching: FileFetcher, url: str) -> NotFetched:
    with pytest.raises(NotFetched) as refused:
        fetched = await fetching.fetch(url)
        fetched.close()
    return refused.value


async def contents(fetched: FetchedFile) -> bytes:
    return b"".join([chunk async for chunk in fetched.chunks()])


def open_temp_files() -> int:
    """Temporary files this process holds open (a spooled file on disk is unlinked)."""
    temp = tempfile.gettempdir()
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(temp)
    return count


def body(data: bytes, content_type: str = "application/octet-stream") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, content_type=content_type)

    return handler


def status(code: int) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, text="no")

    return handler


def redirect(location: str, code: int = 302) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=code, headers={"Location": location})
        response.set_cookie("session", "from-the-file-server")
        return response

    return handler


@dataclass
class Streamer:
    """Streams ``size`` bytes in 64 KiB chunks (declaring the size, or chunked), counting
    what it managed to send until the client went away."""

    size: int
    declare: bool = True
    sent: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if self.declare:
            response.content_length = self.size
        try:
            await response.prepare(request)
            while self.sent < self.size:
                await response.write(b"x" * min(64 * 1024, self.size - self.sent))
                self.sent += min(64 * 1024, self.size - self.sent)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.done.set()
        return response


# --- the file arrives -----------------------------------------------------------------------


async def test_a_png_arrives_byte_for_byte_with_its_type_and_no_cookie_or_auth() -> None:
    async with serve({"/cat.png": body(PNG, "image/png")}) as server, fetcher() as fetching:
        fetched = await fetching.fetch(server.url("/cat.png"))
    try:
        assert await contents(fetched) == PNG
        assert fetched.size == len(PNG)
        assert fetched.content_type == "image/png"
    finally:
        fetched.close()
    ((_, headers),) = server.seen
    assert headers["User-Agent"] == "Baton-Files/1"
    assert "Cookie" not in headers
    assert "Authorization" not in headers


async def test_five_mib_arrive_intact_spooled_to_disk_not_memory() -> None:
    data = os.urandom(5 * MiB)
    async with serve({"/big.bin": body(data)}) as server, fetcher() as fetching:
        fetched = await fetching.fetch(server.url("/big.bin"))
    try:
        assert fetched.size == len(data)
        assert fetched.file._rolled  # type: ignore[attr-defined]
        digest = hashlib.sha256()
        async for chunk in fetched.chunks():
            digest.update(chunk)
        assert digest.digest() == hashlib.sha256(data).digest()
    finally:
        fetched.close()


def _ipv6_loopback() -> bool:
    """Whether this machine can listen on ::1 (a container may have IPv6 off)."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
async def test_an_ipv6_literal_is_fetched_with_a_bracketed_host_header() -> None:
    server_context = serve({"/f.txt": body(b"hello", "text/plain")}, host="::1")
    async with server_context as server, fetcher() as fetching:
        fetched = await fetching.fetch(server.url("/f.txt"))
    fetched.close()
    ((_, headers),) = server.seen
    assert headers["Host"] == f"[::1]:{server.port}"


# --- the server says no -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words", "retry"),
    [
        (404, "404 Not Found", False),
        (410, "410 Gone", False),
        (401, "401 Unauthorized", False),
        (403, "403 Forbidden", False),
        (400, "400 Bad Request", False),
        (429, "429 Too Many Requests", True),
        (500, "500 Internal Server Error", True),
        (503, "503 Service Unavailable", True),
    ],
)
async def test_an_error_status_is_named_and_only_server_trouble_is_retried(
    code: int, words: str, retry: bool
) -> None:
    async with serve({"/f": status(code)}) as server, fetcher() as fetching:
        refused = await refusal(fetching, server.url("/f"))
    assert f"the file server answered {words}" == refused.reason
    assert refused.retry is retry


async def test_a_server_that_never_answers_is_given_up_on_and_retried_later() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nobody ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/f"
        async with fetcher(seconds=1.0) as fetching:
            refused = await refusal(fetching, url)
    assert refused.retry is True
    assert "within 1 s" in refused.reason


async def test_a_server_that_trickles_forever_is_cut_off_by_the_total_timeout() -> None:
    sent = 0

    async def trickle(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            while True:  # a byte every 50 ms: no single read ever waits long
                await response.write(b"x")
                sent += 1
                await asyncio.sleep(0.05)
        return response

    async with serve({"/slow": trickle}) as server, fetcher(seconds=1.0) as fetching:
        refused = await refusal(fetching, server.url("/slow"))
    assert refused.retry is True
    assert "within 1 s" in refused.reason
    assert sent > 1  # it was sending all along, just never finishing


async def test_a_closed_port_is_retried() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/f"
    async with fetcher() as fetching:
        refused = await refusal(fetching, url)
    assert refused.retry is True
    assert "connection to the file server failed" in refused.reason


# --- too large ------------------------------------------------------------------------------


async def test_a_declared_size_over_the_limit_is_refused_without_reading_the_body() -> None:
    streamer = Streamer(64 * MiB)
    async with serve({"/huge": streamer.handle}) as server, fetcher(max_bytes=1 * MiB) as fetching:
        refused = await refusal(fetching, server.url("/huge"))
        await asyncio.wait_for(streamer.done.wait(), 5)
    assert refused.reason == "the file is 64 MiB, larger than the 1 MiB limit"
    assert refused.retry is False
    assert server.paths() == ["/huge"]
    # Only what the sockets' buffers took before Baton hung up; never the file.
    assert streamer.sent < 16 * MiB


async def test_an_undeclared_size_is_cut_off_past_the_limit_and_the_spool_is_closed() -> None:
    streamer = Streamer(64 * MiB, declare=False)  # chunked: no Content-Length
    before = open_temp_files()
    async with serve({"/huge": streamer.handle}) as server, fetcher(max_bytes=3 * MiB) as fetching:
        refused = await refusal(fetching, server.url("/huge"))
        await asyncio.wait_for(streamer.done.wait(), 5)
    assert refused.reason == "the file is larger than the 3 MiB limit"
    assert refused.retry is False
    assert streamer.sent < 16 * MiB  # cut off, not read to the end
    assert open_temp_files() == before  # it had rolled over to disk, and is closed again


async def test_a_small_compressed_body_that_unpacks_past_the_limit_is_refused() -> None:
    bomb = gzip.compress(b"\0" * 4 * MiB)

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    async with serve({"/bomb": handler}) as server, fetcher(max_bytes=1 * MiB) as fetching:
        refused = await refusal(fetching, server.url("/bomb"))
    assert len(bomb) < 1 * MiB
    assert refused.reason == "the file is larger than the 1 MiB limit"


# --- the callback rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("http://127.0.0.1:{port}/f", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/f", "it is a loopback name"),
        ("http://[::ffff:127.0.0.1]:{port}/f", "is a loopback address"),
        ("http://files.example:{port}/f", "127.0.0.1 is a loopback address"),
        ("http://intranet.example:{port}/f", "10.0.0.7 is a private address"),
    ],
)
async def test_a_private_address_is_refused_without_a_request(template: str, why: str) -> None:
    dns = Dns({"files.example": "127.0.0.1", "intranet.example": "10.0.0.7"})
    async with (
        serve({"/f": body(PNG)}) as server,
        fetcher(allow_private=False, resolver=dns) as fetching,
    ):
        refused = await refusal(fetching, template.format(port=server.port))
    assert server.seen == []
    assert refused.retry is False
    assert why in refused.reason
    assert OPT_IN in refused.reason


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://files.example/f.png", "https (or http)"),
        ("file:///etc/passwd", "https (or http)"),
        ("https://user:secret@files.example/f.png", "credentials"),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
async def test_only_http_links_without_credentials_are_fetched(
    url: str, why: str, allow_private: bool
) -> None:
    async with fetcher(allow_private=allow_private, resolver=Dns({})) as fetching:
        refused = await refusal(fetching, url)
    assert refused.retry is False
    assert why in refused.reason


async def test_a_name_that_does_not_resolve_is_retried() -> None:
    async with fetcher(allow_private=False, resolver=Dns({})) as fetching:
        refused = await refusal(fetching, "https://files.not-yet.example/f.png")
    assert refused.retry is True
    assert "files.not-yet.example does not resolve" in refused.reason


# --- redirects ------------------------------------------------------------------------------


async def test_a_redirect_to_another_public_host_is_checked_pinned_and_followed() -> None:
    internet = PublicInternet(PUBLIC_A, PUBLIC_B)
    dns = Dns({"files.example": PUBLIC_A, "cdn.example": PUBLIC_B})
    async with (
        serve({"/f.png": body(PNG, "image/png")}) as cdn,
        serve({"/f": redirect(f"http://cdn.example:{cdn.port}/f.png")}) as origin,
        fetcher(allow_private=False, resolver=dns, transport=internet) as fetching,
    ):
        fetched = await fetching.fetch(f"http://files.example:{origin.port}/f")
    fetched.close()
    assert fetched.size == len(PNG)
    assert internet.connected == [PUBLIC_A, PUBLIC_B]  # exactly the addresses checked
    ((_, first),) = origin.seen
    ((_, second),) = cdn.seen
    assert first["Host"] == f"files.example:{origin.port}"
    assert second["Host"] == f"cdn.example:{cdn.port}"
    assert "Cookie" not in second


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("http://127.0.0.1:{port}/secret", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/secret", "it is a loopback name"),
        ("http://rebound.example:{port}/secret", "127.0.0.1 is a loopback address"),
        ("http://[::ffff:7f00:1]:{port}/secret", "is a loopback address"),
    ],
)
async def test_a_redirect_to_a_private_address_is_refused_and_never_contacted(
    template: str, why: str
) -> None:
    internet = PublicInternet(PUBLIC_A)
    dns = Dns({"files.example": PUBLIC_A, "rebound.example": "127.0.0.1"})
    async with serve({"/secret": body(b"internal only")}) as private:
        location = template.format(port=private.port)
        async with (
            serve({"/f": redirect(location)}) as origin,
            fetcher(allow_private=False, resolver=dns, transport=internet) as fetching,
        ):
            refused = await refusal(fetching, f"http://files.example:{origin.port}/f")
    assert origin.paths() == ["/f"]  # the first hop passed the rules and was asked
    assert private.seen == []
    assert internet.connected == [PUBLIC_A]
    assert refused.retry is False
    assert refused.reason.startswith(f"the file server redirected to {location}, but ")
    assert why in refused.reason
    assert OPT_IN in refused.reason


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://files.example/f"])
async def test_a_redirect_away_from_http_is_refused(location: str) -> None:
    async with serve({"/f": redirect(location)}) as server, fetcher() as fetching:
        refused = await refusal(fetching, server.url("/f"))
    assert refused.retry is False
    assert "https (or http)" in refused.reason


# ``/hop/N`` redirects (relatively) to ``/hop/N-1``; ``/hop/0`` is the file.
CHAIN: dict[str, Handler] = {f"/hop/{n}": redirect(f"../hop/{n - 1}") for n in (1, 2, 3, 4)}
CHAIN["/hop/0"] = body(PNG, "image/png")


async def test_three_redirects_are_followed_without_sending_cookies_back() -> None:
    async with serve(CHAIN) as server, fetcher(max_redirects=3) as fetching:
        fetched = await fetching.fetch(server.url("/hop/3"))
    fetched.close()
    assert fetched.size == len(PNG)
    assert server.paths() == ["/hop/3", "/hop/2", "/hop/1", "/hop/0"]
    assert all("Cookie" not in headers for _, headers in server.seen)


async def test_a_fourth_redirect_is_refused() -> None:
    async with serve(CHAIN) as server, fetcher(max_redirects=3) as fetching:
        refused = await refusal(fetching, server.url("/hop/4"))
    assert server.paths() == ["/hop/4", "/hop/3", "/hop/2", "/hop/1"]
    assert refused.retry is False
    assert refused.reason == "the file server redirected more than 3 times"
