"""One server per SQLite file: a second `baton serve` (or `baton relay`, or a `baton demo`
on the same file) refuses to start while another process drains its outbox, instead of
taking that process's claims for leftovers of a crash and posting its cards again."""

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from api.demo.slack_standin import Fault, StandIn
from tests.bot.conftest import CHANNEL, SIGNING_SECRET, running_standin
from tests.conftest import TEST_SECRET_KEY, escalation_body, fresh_pg_database
from tests.processes import BATON, clean_env, free_port, register_platform, start_serve, wait_ready

SLOW_POST = 8.0  # seconds the first card post is held up on its way to Slack


@pytest.fixture
def slack() -> Iterator[StandIn]:
    with running_standin() as server:
        yield server


def slack_env(slack: StandIn) -> dict[str, str]:
    return clean_env(
        BATON_ALLOW_PRIVATE_CALLBACKS="true",
        SLACK_BOT_TOKEN=slack.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        BATON_SLACK_API_URL=slack.url,
        BATON_ESCALATION_CHANNEL=CHANNEL,
    )


def second(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [BATON, *command],
        cwd=cwd,
        env={**env, "COLUMNS": "60"},  # a narrow terminal: the message must stay on one line
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def card_claimed(database: Path) -> bool:
    with sqlite3.connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM outbox WHERE topic = 'slack' AND kind = 'card.post' "
            "AND claimed_until IS NOT NULL"
        ).fetchone()
    return bool(row[0])


def wait_for(check: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def refused(process: subprocess.Popen[str], pid: int) -> None:
    """It exited 1 with one line naming the file, the holder and what to do."""
    out, err = process.communicate(timeout=5)
    assert process.returncode == 1, out + err
    assert "Traceback" not in err
    assert err.splitlines() == [
        f"error: another Baton process (pid {pid}) serves baton.db; stop it first, or use "
        "PostgreSQL (BATON_DATABASE_URL) to run several processes"
    ]


def test_a_second_serve_refuses_to_start_and_no_card_is_posted_twice(
    tmp_path: Path, slack: StandIn
) -> None:
    env = slack_env(slack)
    key = register_platform("http://127.0.0.1:9/hook", env, cwd=tmp_path)["api_key"]
    first_port = free_port()
    first = start_serve(tmp_path, first_port, env)
    base = f"http://127.0.0.1:{first_port}"
    later: list[subprocess.Popen[str]] = []
    try:
        wait_ready(base, first)
        slack.fail("chat.postMessage", Fault(delay=SLOW_POST))  # the card is on its way
        auth = {"Authorization": f"Bearer {key}"}
        created = httpx.post(f"{base}/v1/escalations", headers=auth, json=escalation_body())
        assert created.status_code == 201
        wait_for(lambda: card_claimed(tmp_path / "baton.db"), 5, "the first server's claim")

        # A deploy starts the new process before the old one has stopped.
        deploy = second(["serve", "--port", str(free_port())], tmp_path, env)
        later.append(deploy)
        with contextlib.suppress(subprocess.TimeoutExpired):  # then it runs beside the first
            deploy.wait(timeout=SLOW_POST + 2)
        wait_for(lambda: slack.top_level(CHANNEL), SLOW_POST + 5, "the card")
        time.sleep(1.5)  # a second post of it would have landed by now
        assert len(slack.top_level(CHANNEL)) == 1, "the card was posted twice"
        refused(deploy, first.pid)

        relay = second(["relay"], tmp_path, env)
        later.append(relay)
        refused(relay, first.pid)

        # Read-only commands and the timed jobs' own process are not in the way.
        status = subprocess.run(
            [BATON, "db", "status"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert status.returncode == 0, status.stdout + status.stderr
        listed = subprocess.run(
            [BATON, "platforms", "list"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert "acme" in listed.stdout

        # The first server goes on as before.
        again = httpx.post(f"{base}/v1/escalations", headers=auth, json=escalation_body())
        assert again.status_code == 201
        wait_for(lambda: len(slack.top_level(CHANNEL)) == 2, 10, "the second card")

        # Killed outright, it leaves no lock behind: the next one starts.
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        next_port = free_port()
        successor = start_serve(tmp_path, next_port, env)
        later.append(successor)
        wait_ready(f"http://127.0.0.1:{next_port}", successor)
        third = httpx.post(
            f"http://127.0.0.1:{next_port}/v1/escalations", headers=auth, json=escalation_body()
        )
        assert third.status_code == 201
        wait_for(lambda: len(slack.top_level(CHANNEL)) == 3, 10, "the third card")
    finally:
        for process in [first, *later]:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


def test_a_demo_on_the_served_database_refuses_and_one_on_its_own_runs(
    tmp_path: Path,
) -> None:
    env = clean_env(BATON_ALLOW_PRIVATE_CALLBACKS="true")
    port = free_port()
    server = start_serve(tmp_path, port, env)
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        on_served = second(["demo", "--db", "baton.db"], tmp_path, env)
        _, err = on_served.communicate(timeout=60)
        assert on_served.returncode == 1
        assert err.splitlines() == [
            f"error: another Baton process (pid {server.pid}) serves "
            f"{tmp_path / 'baton.db'}; stop it first, or use PostgreSQL (BATON_DATABASE_URL) "
            "to run several processes"
        ]
        # The timed jobs claim each effect in the database: their process may run beside.
        scheduler = second(["scheduler"], tmp_path, env)
        try:
            time.sleep(3)
            assert scheduler.poll() is None
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=10)
    finally:
        server.terminate()
        server.wait(timeout=10)
    # Stopped, it lets go too: the demo may have the file now.
    result = subprocess.run(
        [BATON, "demo", "--db", "baton.db"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.postgres
def test_serve_and_relay_share_a_postgresql_database(tmp_path: Path) -> None:
    with fresh_pg_database("baton_replicas") as url:
        env = clean_env(
            BATON_DATABASE_URL=url,
            BATON_SECRET_KEY=TEST_SECRET_KEY,
            BATON_ALLOW_PRIVATE_CALLBACKS="true",
        )
        ports = [free_port(), free_port()]
        servers = [start_serve(tmp_path, port, env) for port in ports]
        relay = second(["relay"], tmp_path, env)
        try:
            for port, server in zip(ports, servers, strict=True):
                wait_ready(f"http://127.0.0.1:{port}", server, seconds=60)
            time.sleep(1)
            assert relay.poll() is None
        finally:
            for process in [*servers, relay]:
                process.terminate()
                process.wait(timeout=15)
        assert not list(tmp_path.glob("*.lock"))
