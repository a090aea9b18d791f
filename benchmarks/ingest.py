"""Ingest throughput: POST /v1/escalations against a minimal FastAPI + SQLModel insert.

Both servers run as real processes, one after the other, each on a fresh database of the same
kind (a SQLite file, then a PostgreSQL database created for the run), loaded by wrk at each
concurrency; on PostgreSQL, as one process and as several (``--workers``).

    python benchmarks/ingest.py [--seconds 10] [--concurrency 8 32] [--databases sqlite postgres]
                                [--workers 1 2]
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.demo.loopback import LoopbackServer  # noqa: E402
from benchmarks import databases  # noqa: E402

BIN = Path(sys.executable).parent

# What a bot sends: a customer, a reason, and a two-message transcript.
BODY = {
    "customer": {"id": "cust_19", "name": "Nguyen Van A", "locale": "vi"},
    "channel": "whatsapp",
    "reason": "gate_failure",
    "reason_detail": "3x gate failure",
    "priority": "high",
    "confidence": 35,
    "transcript": [
        {
            "role": "customer",
            "content": "I want to complain about my order",
            "timestamp": "2026-03-12T10:00:00Z",
        },
        {
            "role": "assistant",
            "content": "Let me connect you with our team!",
            "timestamp": "2026-03-12T10:05:00Z",
        },
    ],
}
ESCALATION = json.dumps({"conversation_id": "conv_%s", **BODY})
MINIMAL = json.dumps({"conversation_id": "conv_%s", "reason": "gate_failure"})


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited: {server.stdout.read() if server.stdout else ''}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def wrk(url: str, body: str, auth: str, concurrency: int, seconds: int) -> Result:
    env = {**os.environ, "WRK_BODY": body, "WRK_AUTH": auth, "WRK_RUN": uuid.uuid4().hex[:8]}
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{concurrency}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(ROOT / "benchmarks" / "post.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"RESULT (.*)", out)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    fields = dict(pair.split("=") for pair in match.group(1).split())
    return Result(
        rps=int(fields["requests"]) / (int(fields["duration_us"]) / 1e6),
        p50_ms=int(fields["p50_us"]) / 1000,
        p99_ms=int(fields["p99_us"]) / 1000,
        failures=int(fields["non2xx"]) + int(fields["errors"]),
    )


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server and its worker processes; SIGKILL if they linger."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print(f"warning: {server.args[0]} did not stop within 30 s; killed", file=sys.stderr)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def bench_baton(
    db_url: str,
    workdir: Path,
    workers: int,
    concurrency: list[int],
    seconds: int,
    callback_url: str,
) -> dict[int, Result]:
    config = workdir / "bench.toml"
    config.write_text('[api]\nrate_limit = "0"\n')
    env = {
        **os.environ,
        "BATON_DATABASE_URL": db_url,
        "BATON_CONFIG": str(config),
        "BATON_ALLOW_PRIVATE_CALLBACKS": "true",
        "BATON_LOG_LEVEL": "WARNING",
        "BATON_SECRET_KEY": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
    }
    port = free_port()
    command = [str(BIN / "baton"), "serve", "--port", str(port), "--workers", str(workers)]
    server = start(command, env, workdir / "baton.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", server)
        added = subprocess.run(
            [
                str(BIN / "baton"),
                "platforms",
                "add",
                f"bench-{uuid.uuid4().hex[:6]}",
                "--callback-url",
                callback_url,
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        auth = "Bearer " + json.loads(added.stdout)["api_key"]
        url = f"http://127.0.0.1:{port}/v1/escalations"
        wrk(url, ESCALATION, auth, 8, 2)  # warm-up
        return {c: wrk(url, ESCALATION, auth, c, seconds) for c in concurrency}
    finally:
        stop(server)


def bench_minimal(
    db_url: str, workdir: Path, workers: int, concurrency: list[int], seconds: int
) -> dict[int, Result]:
    port = free_port()
    env = {**os.environ, "BENCH_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.minimal_app:app",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    server = start(command, env, workdir / "minimal.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}/docs", server)
        url = f"http://127.0.0.1:{port}/tickets"
        wrk(url, MINIMAL, "", 8, 2)
        return {c: wrk(url, MINIMAL, "", c, seconds) for c in concurrency}
    finally:
        stop(server)


@contextmanager
def platform() -> Iterator[str]:
    """A platform that accepts every event at once: Baton's relay delivers each create's
    ``escalation.created`` during the run, as in production (a callback that refused them
    would have the relay retrying all run long)."""

    async def accept(_: Request) -> Response:
        return Response(status_code=204)

    server = LoopbackServer(
        Starlette(routes=[Route("/hook", accept, methods=["POST"])]), "platform", lifespan="off"
    ).start()
    try:
        yield f"{server.base_url}/hook"
    finally:
        server.stop()


def variants(databases: list[str], workers: list[int]) -> list[tuple[str, int]]:
    """SQLite serves from one process, so only PostgreSQL runs with several."""
    return [(d, w) for d in databases for w in workers if d == "postgres" or w == 1]


async def measure(
    kind: str, workers: int, concurrency: list[int], seconds: int
) -> tuple[dict[int, Result], dict[int, Result]]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        baton_url, baton_db = await databases.database(kind, workdir)
        minimal_url, minimal_db = await databases.database(kind, workdir)
        try:
            with platform() as callback_url:
                baton = await asyncio.to_thread(
                    bench_baton, baton_url, workdir, workers, concurrency, seconds, callback_url
                )
            minimal = await asyncio.to_thread(
                bench_minimal, minimal_url, workdir, workers, concurrency, seconds
            )
        finally:
            await databases.drop(baton_db)
            await databases.drop(minimal_db)
    return baton, minimal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    print(
        f"{'database':<10}{'procs':>5}{'conc':>5}  {'baton req/s':>12}{'p50 ms':>8}{'p99 ms':>8}"
        f"  {'minimal req/s':>14}{'p50 ms':>8}{'p99 ms':>8}  {'ratio':>6}  failures",
        flush=True,
    )
    for database, workers in variants(args.databases, args.workers):
        baton, minimal = asyncio.run(measure(database, workers, args.concurrency, args.seconds))
        for c in args.concurrency:
            b, m = baton[c], minimal[c]
            print(
                f"{database:<10}{workers:>5}{c:>5}  {b.rps:>12.0f}{b.p50_ms:>8.1f}{b.p99_ms:>8.1f}"
                f"  {m.rps:>14.0f}{m.p50_ms:>8.1f}{m.p99_ms:>8.1f}  {b.rps / m.rps:>6.2f}"
                f"  {b.failures}/{m.failures}",
                flush=True,
            )


if __name__ == "__main__":
    main()
