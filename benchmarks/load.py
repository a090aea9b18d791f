"""A closed-loop HTTP/1.1 load generator in Python, for machines without wrk.

``--concurrency`` keep-alive connections each POST the next body as soon as the last one
is answered, for ``--seconds``. It is driven the way ``post.lua`` drives wrk, and prints
the same ``RESULT`` line, plus the CPU time it used itself (``cpu_us``: near its whole core
means it, not the server, set the pace):

    LOAD_BODY='{"conversation_id": "conv_{id}", "channel": "web-{channel}"}' \\
    LOAD_AUTH='Bearer …' LOAD_CHANNELS=10 python benchmarks/load.py URL [--concurrency 32]
        [--seconds 15]

``{id}`` in the body becomes a new id for each request and ``{channel}`` counts round
``LOAD_CHANNELS``. It speaks just enough HTTP/1.1 over asyncio streams (on uvloop) to send a
request and read its answer: about ten times what an httpx client sends from one core.
"""

import argparse
import asyncio
import itertools
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvloop


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    non2xx: int = 0
    errors: int = 0


def requests(url: str) -> Callable[[], bytes]:
    """A function that makes the next request: the body from ``LOAD_BODY``, each with its
    own ``{id}`` and the next ``{channel}``."""
    parts = urlsplit(url)
    template = os.environ["LOAD_BODY"]
    auth = os.environ.get("LOAD_AUTH", "")
    channels = int(os.environ.get("LOAD_CHANNELS", "1"))
    run = os.environ.get("LOAD_RUN") or uuid.uuid4().hex[:8]
    head = f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += "Content-Type: application/json\r\n"
    if auth:
        head += f"Authorization: {auth}\r\n"
    counter = itertools.count()

    def make() -> bytes:
        n = next(counter)
        body = template.replace("{id}", f"{run}_{n}").replace("{channel}", str(n % channels))
        data = body.encode()
        return f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data

    return make


async def answer(reader: asyncio.StreamReader) -> int:
    """Read one response; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding") == b"chunked":
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status


async def connection(url: str, make: Callable[[], bytes], until: float, tally: Tally) -> None:
    """One client: a request, its answer, the next; a new connection after an error."""
    parts = urlsplit(url)
    while time.perf_counter() < until:
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        except OSError:
            tally.errors += 1
            await asyncio.sleep(0.01)
            continue
        try:
            while time.perf_counter() < until:
                request = make()
                sent = time.perf_counter()
                writer.write(request)
                status = await answer(reader)
                tally.latencies.append(time.perf_counter() - sent)
                tally.non2xx += not 200 <= status < 300
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            tally.errors += 1
        finally:
            writer.close()


def percentile_us(ordered: list[float], p: float) -> int:
    if not ordered:
        return 0
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return round(ordered[rank] * 1e6)


async def run(url: str, concurrency: int, seconds: float) -> str:
    make = requests(url)
    tally = Tally()
    cpu = time.process_time()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(connection(url, make, until, tally) for _ in range(concurrency)))
    duration = time.perf_counter() - started
    ordered = sorted(tally.latencies)
    return (
        f"RESULT requests={len(ordered)} duration_us={round(duration * 1e6)} "
        f"non2xx={tally.non2xx} errors={tally.errors} p50_us={percentile_us(ordered, 50)} "
        f"p99_us={percentile_us(ordered, 99)} cpu_us={round((time.process_time() - cpu) * 1e6)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    print(uvloop.run(run(args.url, args.concurrency, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
