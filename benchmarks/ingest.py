"""Ingest throughput: POST /v1/escalations against a minimal FastAPI + SQLModel insert.

Both servers run as real processes on the same database (a SQLite file, then a PostgreSQL
database created for the run), one after the other, loaded by wrk at each concurrency.

    python benchmarks/ingest.py [--seconds 10] [--concurrency 8 32] [--databases sqlite postgres]
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("BATON_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

ESCALATION = json.dumps(
    {
        "conversation_id": "conv_%s",
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
)
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


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=15)


def bench_baton(db_url: str, workdir: Path, concurrency: list[int], seconds: int) -> dict:
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
    server = start([str(BIN / "baton"), "serve", "--port", str(port)], env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", server)
        added = subprocess.run(
            [
                str(BIN / "baton"),
                "platforms",
                "add",
                f"bench-{uuid.uuid4().hex[:6]}",
                "--callback-url",
                "http://127.0.0.1:9/hook",
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


def bench_minimal(db_url: str, concurrency: list[int], seconds: int) -> dict:
    port = free_port()
    env = {**os.environ, "BENCH_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    server = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.minimal_app:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/docs", server)
        url = f"http://127.0.0.1:{port}/tickets"
        wrk(url, MINIMAL, "", 8, 2)
        return {c: wrk(url, MINIMAL, "", c, seconds) for c in concurrency}
    finally:
        stop(server)


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    rows = []
    for database in args.databases:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            if database == "sqlite":
                baton_url = f"sqlite:///{workdir}/baton.db"
                minimal_url = f"sqlite:///{workdir}/minimal.db"
                cleanup = None
            else:
                name = f"baton_bench_{uuid.uuid4().hex[:8]}"
                asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
                base = PG_ADMIN.rsplit("/", 1)[0]
                baton_url = minimal_url = f"{base}/{name}"
                cleanup = name
            try:
                baton = bench_baton(baton_url, workdir, args.concurrency, args.seconds)
                minimal = bench_minimal(minimal_url, args.concurrency, args.seconds)
            finally:
                if cleanup:
                    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{cleanup}" WITH (FORCE)'))
            for c in args.concurrency:
                rows.append((database, c, baton[c], minimal[c]))
    print(
        f"{'database':<10}{'conc':>5}  {'baton req/s':>12}{'p50 ms':>8}{'p99 ms':>8}"
        f"  {'minimal req/s':>14}{'p50 ms':>8}{'p99 ms':>8}  {'ratio':>6}  failures"
    )
    for database, c, b, m in rows:
        print(
            f"{database:<10}{c:>5}  {b.rps:>12.0f}{b.p50_ms:>8.1f}{b.p99_ms:>8.1f}"
            f"  {m.rps:>14.0f}{m.p50_ms:>8.1f}{m.p99_ms:>8.1f}  {b.rps / m.rps:>6.2f}"
            f"  {b.failures}/{m.failures}"
        )


if __name__ == "__main__":
    main()
