"""Ingest as deployed: POST /v1/escalations against a bare FastAPI + SQLModel insert.

Baton runs as ``baton serve`` (one process; on PostgreSQL also ``--workers 2``) with Slack
configured against the stand-in and a platform that verifies and accepts every event; those
two run in a process of their own (benchmarks/standins.py). Cards go to one Slack channel, or
to ten through ``[[routing]]`` rules by customer channel. Baton (and the bare endpoint,
benchmarks/minimal_app.py, in as many processes) is pinned to core 1; the load generator and
the stand-ins to core 0. Each server gets a fresh database of the kind. After the load, the
outbox is given ``--drain`` seconds to empty: a 201 is not the end of an escalation's work.

    python benchmarks/ingest.py [--seconds 15] [--concurrency 32] [--databases sqlite postgres]
        [--procs 1 2] [--channels 1 10] [--drain 60] [--load auto|wrk|python]
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import func, select
from sqlmodel import col

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import databases  # noqa: E402
from benchmarks.stack import (  # noqa: E402
    BODY,
    baton_env,
    free_port,
    register_platform,
    serve,
    stop,
    warn_without_autovacuum,
    write_config,
)
from benchmarks.standins import Counts, StandIns  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.models import DeliveryState, Escalation, OutboxRow, Topic  # noqa: E402

BATON_CPU, LOAD_CPU = "1", "0"  # taskset core lists: the server's, and everything else's
ESCALATION = json.dumps({**BODY, "conversation_id": "conv_{id}", "channel": "web-{channel}"})
MINIMAL = json.dumps({"conversation_id": "conv_{id}", "reason": "gate_failure"})
WARM_UP = (4, 1)  # connections, seconds: first requests pay for lazy imports and pools
DRAINED = (Topic.platform, Topic.slack)  # what a create asks for (hourly rows wait an hour)
TARGET_RATIO, GOAL_RATIO, TARGET_CPU_MS = 0.6, 0.8, 3.0  # issue 21


# ------------------------------------------------------------------------------ rows


@dataclass(frozen=True)
class Variant:
    database: str
    procs: int
    channels: int

    def __str__(self) -> str:
        procs = "proc" if self.procs == 1 else "procs"
        channels = "channel" if self.channels == 1 else "channels"
        return f"{self.database} {self.procs} {procs} {self.channels} {channels}"


@dataclass(frozen=True)
class Load:
    """What the load generator printed for one run."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    errors: int
    cpu_seconds: float | None  # the generator's own (the Python one says; wrk does not)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def succeeded(self) -> int:
        return self.requests - self.non2xx

    @property
    def failures(self) -> int:
        return self.non2xx + self.errors


@dataclass(frozen=True)
class Meters:
    """Where a run's CPU is read: the server's processes, the PostgreSQL server (SQLite works
    in the server's process), the stand-ins'."""

    server: int
    postgres: bool = False
    standins: int | None = None

    def read(self) -> dict[str, float]:
        """CPU seconds used so far, by ``server``, ``database`` and ``standins``."""
        found = {"server": cpu_seconds(self.server)}
        if self.postgres:
            found["database"] = postgres_cpu()
        if self.standins is not None:
            found["standins"] = cpu_seconds(self.standins)
        return found


@dataclass(frozen=True)
class Window:
    """The load, and what the machine did meanwhile."""

    load: Load
    wall: float  # seconds from before the generator started to after it ended
    cpu: dict[str, float]  # seconds, by the names of ``Meters.read``
    cores_busy: list[float]  # each core's busy fraction

    def cores(self, name: str) -> float | None:
        return self.cpu[name] / self.wall if name in self.cpu else None

    def ms(self, name: str) -> float | None:
        """CPU per request answered with success."""
        return 1000 * self.cpu[name] / max(1, self.load.succeeded) if name in self.cpu else None

    @property
    def generator_share(self) -> float | None:
        """How much of its core the generator used."""
        cpu = self.load.cpu_seconds
        return None if cpu is None else cpu / self.load.seconds


@dataclass(frozen=True)
class Drain:
    """After the load: how long until nothing was pending for each topic (None: not within
    the wait), and Baton's CPU meanwhile."""

    events: float | None
    slack: float | None
    seconds: float
    cpu: float

    @property
    def cores(self) -> float:
        return self.cpu / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Row:
    variant: Variant
    baton: Window
    bare: Window
    drain: Drain
    created: int  # escalations in the database at the end, the warm-up's too
    done: Counts  # what Slack and the platform had got by then

    @property
    def ratio(self) -> float:
        return self.baton.load.rps / self.bare.load.rps


# ------------------------------------------------------------------------------ load


@dataclass(frozen=True)
class Target:
    url: str
    body: str  # with {id} and {channel}
    auth: str
    channels: int = 1


def pick_generator(choice: str) -> str:
    found = shutil.which("wrk") is not None
    if choice == "wrk" and not found:
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --load python")
    if choice == "auto":
        choice = "wrk" if found else "python"
        if not found:
            print(
                "note: wrk is not installed; loading with benchmarks/load.py (Python, "
                "closed loop) instead. Its own CPU is printed: near 100% means it, not the "
                "server, set the pace.",
                file=sys.stderr,
            )
    return choice


def generate(generator: str, target: Target, connections: int, seconds: int) -> Load:
    """One run of the load generator, pinned to ``LOAD_CPU``."""
    env = {
        **os.environ,
        "LOAD_BODY": target.body,
        "LOAD_AUTH": target.auth,
        "LOAD_CHANNELS": str(target.channels),
        "LOAD_RUN": uuid.uuid4().hex[:8],
    }
    if generator == "wrk":
        script = str(ROOT / "benchmarks" / "post.lua")
        flags = ["-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
        command = ["wrk", *flags, "-s", script, target.url]
    else:
        script = str(ROOT / "benchmarks" / "load.py")
        flags = ["--concurrency", str(connections), "--seconds", str(seconds)]
        command = [sys.executable, script, target.url, *flags]
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPU, *command], env=env, capture_output=True, text=True
    )
    result = next((line for line in out.stdout.splitlines() if line.startswith("RESULT ")), None)
    if result is None:
        raise SystemExit(f"{generator} printed no result:\n{out.stdout}\n{out.stderr}")
    fields = {k: int(v) for k, v in (pair.split("=") for pair in result.split()[1:])}
    return Load(
        requests=fields["requests"],
        seconds=fields["duration_us"] / 1e6,
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        non2xx=fields["non2xx"],
        errors=fields["errors"],
        cpu_seconds=fields["cpu_us"] / 1e6 if "cpu_us" in fields else None,
    )


def cpu_seconds(pid: int) -> float:
    """User and system time of the process and its children so far."""
    parent = psutil.Process(pid)
    return processes_cpu([parent, *parent.children(recursive=True)])


def processes_cpu(processes: Iterable[psutil.Process]) -> float:
    """User and system time of ``processes`` so far (those that have ended count 0)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def busy(before: list[Any], after: list[Any]) -> list[float]:
    """Each core's busy fraction between two ``psutil.cpu_times(percpu=True)``."""
    fractions = []
    for b, a in zip(before, after, strict=True):
        total = sum(a) - sum(b)
        idle = (a.idle + a.iowait) - (b.idle + b.iowait)
        fractions.append(1 - idle / total if total else 0.0)
    return fractions


def postgres_cpu() -> float:
    """User and system time so far of the local PostgreSQL server: the postmaster, its
    processes, and those that have ended (their times are added to the postmaster's as it
    reaps them). Other databases' work on the server counts too."""
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and "-D" in (process.info["cmdline"] or ()):
            own = process.cpu_times()
            total: float = own.user + own.system + own.children_user + own.children_system
            return total + processes_cpu(process.children(recursive=True))
    raise SystemExit("no PostgreSQL server process found on this machine")


def measure(generator: str, target: Target, meters: Meters, options: argparse.Namespace) -> Window:
    """A warm-up, then the load, with the CPU it cost and the cores' use over the load."""
    warm = generate(generator, target, *WARM_UP)
    if warm.failures:
        raise SystemExit(f"the warm-up failed {warm.failures} of {warm.requests} requests")
    cpu, cores, started = meters.read(), psutil.cpu_times(percpu=True), time.monotonic()
    load = generate(generator, target, options.concurrency, options.seconds)
    wall, spent = time.monotonic() - started, meters.read()
    used = {name: spent[name] - cpu[name] for name in cpu}
    return Window(load, wall, used, busy(cores, psutil.cpu_times(percpu=True)))


# ---------------------------------------------------------------------------- servers


@asynccontextmanager
async def fresh_database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """The URL of a new database of ``kind``, dropped after."""
    url, name = await databases.database(kind, workdir)
    try:
        yield url
    finally:
        await databases.drop(name)


@contextmanager
def standins(channels: list[str]) -> Iterator[StandIns]:
    process = StandIns(channels, cpus=LOAD_CPU)
    try:
        yield process
    finally:
        process.stop()


def routes(channels: int) -> dict[str, str]:
    """Customer channel ``web-N`` to Slack channel ``C0CARDSN``, as the bodies count round."""
    return {f"web-{n}": f"C0CARDS{n}" for n in range(channels)}


def start_bare(db_url: str, procs: int, workdir: Path) -> tuple[subprocess.Popen[str], str]:
    """``uvicorn benchmarks.minimal_app:app`` in ``procs`` processes, pinned like Baton."""
    port = free_port()
    env = {**os.environ, "BENCH_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    command = [
        *("taskset", "-c", BATON_CPU, sys.executable, "-m", "uvicorn"),
        *("benchmarks.minimal_app:app", "--port", str(port), "--workers", str(procs)),
        *("--no-access-log", "--log-level", "warning"),
    ]
    with (workdir / "bare.log").open("a") as log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx.get(f"{base}/docs", timeout=1, trust_env=False)
            return server, base
        except httpx.TransportError:
            time.sleep(0.1)
    stop(server)
    raise SystemExit(f"the bare endpoint did not start:\n{(workdir / 'bare.log').read_text()}")


async def run_bare(database: str, procs: int, options: argparse.Namespace) -> Window:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        async with fresh_database(database, workdir) as db_url:
            server, base = start_bare(db_url, procs, workdir)
            try:
                target = Target(f"{base}/tickets", MINIMAL, "")
                meters = Meters(server.pid, database == "postgres")
                return await asyncio.to_thread(measure, options.generator, target, meters, options)
            finally:
                stop(server)


async def run_baton(variant: Variant, bare: Window, options: argparse.Namespace) -> Row:
    rules = routes(variant.channels)
    with tempfile.TemporaryDirectory() as tmp, standins(list(rules.values())) as others:
        workdir = Path(tmp)
        async with fresh_database(variant.database, workdir) as db_url:
            config = write_config(workdir, rules)
            env = baton_env(db_url, config, others.slack_url, others.slack_token)
            credentials = register_platform(env, others.platform_url)
            others.set_secret(credentials["webhook_secret"])
            server, base = serve(workdir, env, workers=variant.procs, cpus=BATON_CPU)
            try:
                url, auth = f"{base}/v1/escalations", f"Bearer {credentials['api_key']}"
                target = Target(url, ESCALATION, auth, variant.channels)
                meters = Meters(server.pid, variant.database == "postgres", others.pid)
                window = await asyncio.to_thread(
                    measure, options.generator, target, meters, options
                )
                drain = await drained(db_url, server.pid, options.drain)
                created = await count_escalations(db_url)
                return Row(variant, window, bare, drain, created, others.counts())
            finally:
                stop(server)


# ------------------------------------------------------------------------------ outbox


async def pending(db: Database) -> dict[str, int]:
    statement = (
        select(col(OutboxRow.topic), func.count())
        .where(col(OutboxRow.state) == DeliveryState.pending)
        .group_by(col(OutboxRow.topic))
    )
    async with db.read() as s:
        return {str(topic): n for topic, n in await s.execute(statement)}


async def drained(db_url: str, server: int, seconds: float) -> Drain:
    """Wait up to ``seconds`` for the platform's and Slack's outbox rows to be delivered."""
    db = Database(db_url)
    cpu, started = cpu_seconds(server), time.monotonic()
    done: dict[str, float] = {}
    try:
        while True:
            waiting = await pending(db)
            elapsed = time.monotonic() - started
            for topic in DRAINED:
                if not waiting.get(topic):
                    done.setdefault(topic, elapsed)
            if len(done) == len(DRAINED) or elapsed >= seconds:
                break
            await asyncio.sleep(0.25)
    finally:
        await db.dispose()
    took = time.monotonic() - started
    return Drain(done.get(Topic.platform), done.get(Topic.slack), took, cpu_seconds(server) - cpu)


async def count_escalations(db_url: str) -> int:
    db = Database(db_url)
    try:
        async with db.read() as s:
            return int((await s.execute(select(func.count()).select_from(Escalation))).scalar_one())
    finally:
        await db.dispose()


# ----------------------------------------------------------------------------- report


def seconds_or_more(value: float | None, waited: float) -> str:
    return f"{value:.1f}" if value is not None else f">{waited:.0f}"


def both(baton: float | None, bare: float | None) -> str:
    """Two shares, Baton's run's and the bare endpoint's, as percentages."""
    return "/".join("-" if v is None else f"{100 * v:.0f}" for v in (baton, bare))


def print_ingest(rows: list[Row]) -> None:
    print(
        f"{'run':<28}{'req/s':>6}{'p50 ms':>8}{'p99 ms':>8}  {'bare req/s':>10}{'p50 ms':>8}"
        f"{'p99 ms':>8}{'ratio':>7}  {'failures':>8}  {'gen %':>7}  {'core 0 %':>8}"
    )
    for row in rows:
        b, m = row.baton.load, row.bare.load
        gen = both(row.baton.generator_share, row.bare.generator_share)
        core = both(row.baton.cores_busy[0], row.bare.cores_busy[0])
        print(
            f"{row.variant!s:<28}{b.rps:>6.0f}{b.p50_ms:>8.1f}{b.p99_ms:>8.1f}  {m.rps:>10.0f}"
            f"{m.p50_ms:>8.1f}{m.p99_ms:>8.1f}{row.ratio:>7.2f}  {b.failures:>4}/{m.failures:<3}"
            f"  {gen:>7}  {core:>8}"
        )


def number(value: float | None, width: int, places: int = 2) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{places}f}"


def print_cpu(rows: list[Row]) -> None:
    print(
        f"{'run':<28}{'cores':>6}{'ms/esc':>7}{'db ms':>7}{'stand-ins':>10}"
        f"   {'bare cores':>10}{'ms/req':>7}{'db ms':>7}"
    )
    for row in rows:
        b, m = row.baton, row.bare
        print(
            f"{row.variant!s:<28}{number(b.cores('server'), 6)}{number(b.ms('server'), 7)}"
            f"{number(b.ms('database'), 7)}{number(b.cores('standins'), 10)}"
            f"   {number(m.cores('server'), 10)}{number(m.ms('server'), 7)}"
            f"{number(m.ms('database'), 7)}"
        )


def print_drain(rows: list[Row]) -> None:
    print(
        f"{'run':<28}{'created':>8}{'events':>8}{'cards':>7}{'posts':>7}"
        f"   {'events s':>8}{'cards s':>8}{'cores':>6}"
    )
    for row in rows:
        d, done = row.drain, row.done
        print(
            f"{row.variant!s:<28}{row.created:>8}{done.events:>8}{done.cards:>7}{done.posts:>7}"
            f"   {seconds_or_more(d.events, d.seconds):>8}{seconds_or_more(d.slack, d.seconds):>8}"
            f"{d.cores:>6.2f}"
        )


def print_targets(rows: list[Row]) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    for row in rows:
        ratio = row.ratio
        goal = " (goal met)" if ratio >= GOAL_RATIO else ""
        met = verdict(ratio >= TARGET_RATIO)
        print(f"{row.variant!s:<30}ingest {ratio:.2f}x bare   target >= 0.6x  {met}{goal}")
    for row in rows:
        if row.variant.database == "postgres":
            cpu = row.baton.ms("server") or 0.0
            print(
                f"{row.variant!s:<30}CPU {cpu:.2f} ms/escalation   target <= 3 ms  "
                f"{verdict(cpu <= TARGET_CPU_MS)} (cards {row.done.cards}/{row.created} posted)"
            )


def report(rows: list[Row], options: argparse.Namespace, load_before: float) -> None:
    print(
        f"\nLoad average (1 min) before the runs {load_before:.2f}, after them "
        f"{os.getloadavg()[0]:.2f} (the runs add to it themselves)."
    )
    print(
        f"\nIngest: concurrency {options.concurrency} for {options.seconds} s, loaded by "
        f"{options.generator}; the servers on core {BATON_CPU}, the load and the stand-ins on "
        f"core {LOAD_CPU}, PostgreSQL's server on either. gen %: the generator's CPU, as a "
        "share of its core; core 0 %: how busy that core was (Baton's run/the bare one's)."
    )
    print_ingest(rows)
    print(
        "\nCPU during the load: Baton's, in cores and ms per escalation created; the "
        "PostgreSQL server's per escalation; the stand-ins' process, in cores; "
        "the same for the bare endpoint, per request."
    )
    print_cpu(rows)
    print(
        f"\nDrain, up to {options.drain:.0f} s after the load: escalations created (the "
        "warm-up's too), escalation.created events the platform accepted, escalations with "
        "a card, chat.postMessage calls answered, all by the end; seconds until nothing was "
        "pending for the platform and for Slack (>N: not by the end); Baton's CPU meanwhile."
    )
    print_drain(rows)
    print("\nTargets (issue 21)")
    print_targets(rows)


# ------------------------------------------------------------------------------ main


def variants(options: argparse.Namespace) -> list[tuple[str, int]]:
    """(database, processes) pairs: SQLite serves from one process."""
    return [(d, p) for d in options.databases for p in options.procs if d == "postgres" or p == 1]


async def run_all(options: argparse.Namespace) -> list[Row]:
    if "postgres" in options.databases:
        await warn_without_autovacuum()
    rows = []
    for database, procs in variants(options):
        bare = await run_bare(database, procs, options)
        print(f"{database} {procs} proc(s) bare: {bare.load.rps:.0f} req/s", file=sys.stderr)
        for channels in options.channels:
            row = await run_baton(Variant(database, procs, channels), bare, options)
            print(f"{row.variant}: {row.baton.load.rps:.0f} req/s", file=sys.stderr)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--drain", type=float, default=60, help="seconds to wait at most")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    options = parser.parse_args()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is needed (util-linux)")
    options.generator = pick_generator(options.load)
    load_before = os.getloadavg()[0]
    report(asyncio.run(run_all(options)), options, load_before)


if __name__ == "__main__":
    main()
