"""The relay end to end: a real receiver verifying signatures, real server processes."""

import asyncio
import os
import shutil
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update

from api.relay.platform import Relay
from storage.models import OutboxRow, Platform, Topic
from storage.outbox.rows import RETRY_FOR
from tests.conftest import TEST_SECRET_KEY, Env, _truncate, escalation_body, start_env
from tests.processes import BATON, clean_env, free_port, register_platform, start_serve, wait_ready
from tests.receiver import Receiver


async def _point_platform_at(env: Env, receiver: Receiver) -> None:
    receiver.secret = env.platform.webhook_secret
    async with env.db.write() as s:
        await s.execute(update(Platform).values(callback_url=receiver.url))


async def _wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def env(clocked_env: Env) -> Env:
    return clocked_env


async def test_a_hanging_platform_times_out_and_holds_up_nothing_else(
    env: Env, receiver: Receiver
) -> None:
    await _point_platform_at(env, receiver)
    slow = await env.create()
    quick = await env.create()
    slow_events: set[str] = set()

    def answer(webhook_id: str, attempt: int) -> int | float:
        return 2.0 if webhook_id in slow_events and attempt == 1 else 200

    receiver.answer = answer
    async with env.db.read() as s:
        from sqlalchemy import select

        rows = (
            await s.execute(select(OutboxRow).where(OutboxRow.topic == Topic.platform))
        ).scalars()
        slow_events.update(r.event_id for r in rows if r.escalation_id == slow["id"])
    relay = Relay(
        env.db, env.services.box, allow_private=True, timeout=httpx.Timeout(0.5), rng=lambda: 0.5
    )
    try:
        started = time.monotonic()
        await relay.run_once()
        took = time.monotonic() - started
        ids = [r.body["data"]["escalation_id"] for r in receiver.delivered()]
        assert ids == [quick["id"]]  # delivered while the other hung
        assert took < 1.5  # the hanging attempt was cut at its timeout
        env.clock.advance(timedelta(seconds=10))
        await relay.drain()
        ids = [r.body["data"]["escalation_id"] for r in receiver.delivered()]
        assert ids == [quick["id"], slow["id"]]
        assert all(r.verified for r in receiver.delivered())
    finally:
        await relay.aclose()


async def test_sigkill_after_committing_50_replies_loses_nothing(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = {
        **clean_env(),
        "BATON_ALLOW_PRIVATE_CALLBACKS": "true",
        "BATON_DATABASE_URL": f"sqlite:///{tmp_path}/baton.db",
    }
    credentials = register_platform(receiver.url, env)
    receiver.secret = credentials["webhook_secret"]
    receiver.answer = lambda _id, _n: 0.02  # a platform that takes a moment per event
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {credentials['api_key']}"}
    server = start_serve(tmp_path, port, env)
    try:
        wait_ready(base, server)
        async with httpx.AsyncClient(base_url=base, headers=auth) as client:
            esc = (await client.post("/v1/escalations", json=escalation_body())).json()
            await client.post(f"/v1/escalations/{esc['id']}/take", json={"agent": "U0MINH"})
            for n in range(50):
                reply = await client.post(
                    f"/v1/escalations/{esc['id']}/reply",
                    json={"agent": "U0MINH", "content": f"reply {n}"},
                )
                assert reply.status_code == 201
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        delivered_before = len(receiver.unique_ids())
        assert delivered_before < 52  # the kill really interrupted the relay
        server = start_serve(tmp_path, port, env)
        wait_ready(base, server)
        await _wait_for(lambda: len(receiver.unique_ids()) == 52, 60, "every event")
    finally:
        server.kill()
        server.wait(timeout=10)
    delivered = receiver.delivered()
    assert all(r.verified for r in delivered)
    replies = [
        r.body["data"]["message"]["content"]
        for r in delivered
        if r.body["type"] == "escalation.message"
    ]
    # In order; an event whose delivery was cut by the kill may arrive twice, never more.
    assert list(dict.fromkeys(replies)) == [f"reply {n}" for n in range(50)]
    counts = {i: [r.webhook_id for r in delivered].count(i) for i in receiver.unique_ids()}
    assert max(counts.values()) <= 2
    assert sum(counts.values()) - len(counts) <= 1


@pytest.mark.postgres
async def test_three_worker_processes_drain_3000_events_once_each_in_order(
    pg_database: str, receiver: Receiver
) -> None:
    await _truncate(pg_database)
    env, lifespan = await start_env(pg_database)
    try:
        await _point_platform_at(env, receiver)
        escalations = [await env.create(transcript=[]) for _ in range(300)]
        now = env.clock.now()
        async with env.db.write() as s:
            # Park what the creates queued; the test's 3,000 events follow.
            await s.execute(update(OutboxRow).values(state="done"))
            await s.execute(
                insert(OutboxRow),
                [
                    {
                        "topic": "platform",
                        "kind": "escalation.message",
                        "escalation_id": esc["id"],
                        "platform_id": env.platform.platform.id,
                        "event_id": f"evt_{esc['id']}_{n}",
                        "payload": {
                            "type": "escalation.message",
                            "data": {"escalation_id": esc["id"], "seq": n},
                        },
                        "state": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                        "give_up_at": now + RETRY_FOR,
                    }
                    for n in range(10)
                    for esc in escalations
                ],
            )
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)
    worker_env = {
        **os.environ,
        "BATON_DATABASE_URL": pg_database,
        "BATON_SECRET_KEY": TEST_SECRET_KEY,
        "BATON_ALLOW_PRIVATE_CALLBACKS": "true",
        "BATON_LOG_LEVEL": "WARNING",
    }
    workers = [
        subprocess.Popen(
            [BATON, "relay"],
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        await _wait_for(lambda: len(receiver.delivered()) >= 3000, 120, "3,000 deliveries")
        await asyncio.sleep(1)  # anything delivered twice would arrive by now
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=10)
    delivered = receiver.delivered()
    assert len(delivered) == 3000
    assert len({r.webhook_id for r in delivered}) == 3000
    by_escalation: dict[str, list[int]] = {}
    for r in delivered:
        by_escalation.setdefault(r.body["data"]["escalation_id"], []).append(r.body["data"]["seq"])
    assert len(by_escalation) == 300
    assert all(seqs == list(range(10)) for seqs in by_escalation.values())


async def test_baton_deliveries_lists_and_replays_parked_ones(
    tmp_path: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "baton.db")
    url = f"sqlite:///{tmp_path}/baton.db"
    shell_env = {
        **clean_env(),
        "BATON_DATABASE_URL": url,
    }
    env, lifespan = await start_env(url)
    try:
        await env.create()
        async with env.db.write() as s:
            await s.execute(
                update(OutboxRow)
                .where(OutboxRow.topic == Topic.platform)
                .values(state="failed", last_error="HTTP 500")
            )

        def baton(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [BATON, "deliveries", *args],
                env=shell_env,
                capture_output=True,
                text=True,
                timeout=60,
            )

        listed = baton("list", "--failed")
        assert listed.returncode == 0, listed.stderr
        assert "escalation.created" in listed.stdout and "HTTP 500" in listed.stdout
        assert baton("replay").returncode == 2  # neither ids nor --all-failed
        replayed = baton("replay", "--all-failed")
        assert "Queued 1 parked delivery again." in replayed.stdout
        assert "escalation.created" not in baton("list", "--failed").stdout
        async with env.db.read() as s:
            from sqlalchemy import select

            states = (
                (await s.execute(select(OutboxRow.state).where(OutboxRow.topic == Topic.platform)))
                .scalars()
                .all()
            )
        assert states == ["pending"]
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)
