"""``[lifecycle] auto_close_after``: a taken escalation whose customer wrote nothing for that
long is closed as ``no_response``, once, however many schedulers sweep; its owner is told
in the thread; a customer who keeps writing keeps it open. Off unless configured."""

import asyncio
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from api.config import ApiSection, Config, LifecycleSection
from api.demo.slack_standin import StandIn
from api.http.app import build_timed_jobs
from scheduler.jobs import auto_close
from storage.clock import ManualClock
from storage.models import Event, OutboxRow, Topic
from tests.bot.conftest import ANN, SlackEnv, eventually, running_slack_env
from tests.conftest import TEST_SECRET_KEY, _truncate, start_env
from tests.processes import BATON, clean_env

QUIET = timedelta(hours=24)


@pytest.fixture
async def senv(database_url: str, standin: StandIn) -> AsyncIterator[SlackEnv]:
    config = Config(
        api=ApiSection(rate_limit=0),
        lifecycle=LifecycleSection(auto_close_after=QUIET),
    )
    async with running_slack_env(
        database_url, standin, manual_clock=True, config=config
    ) as environment:
        yield environment


def _later(senv: SlackEnv, delta: timedelta) -> None:
    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    clock.advance(delta)


async def _sweep(senv: SlackEnv) -> int:
    return await auto_close(senv.env.services.machine.close_quiet, QUIET)


async def _status(senv: SlackEnv, esc_id: str) -> dict[str, object]:
    response = await senv.client.get(f"/v1/escalations/{esc_id}", headers=senv.env.auth)
    detail: dict[str, object] = response.json()
    return detail


async def test_a_quiet_escalation_is_closed_once_and_its_owner_told(senv: SlackEnv) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    _later(senv, QUIET - timedelta(minutes=1))
    assert await _sweep(senv) == 0  # not quiet long enough yet

    _later(senv, timedelta(minutes=2))
    assert await _sweep(senv) == 1
    assert await _sweep(senv) == 0  # once
    detail = await _status(senv, esc_id)
    assert (detail["status"], detail["resolution"]) == ("closed", "no_response")

    events = await senv.env.platform_events(esc_id)
    closed = [e for e in events if e["type"] == "escalation.closed"]
    assert len(closed) == 1
    data = closed[0]["data"]
    assert (data["resolution"], data["keep_ai_paused"], data["note"]) == (
        "no_response",
        False,
        None,
    )
    assert data["customer_message"]
    await senv.deliver()
    told = [m for m in await senv.replies(esc_id) if "closed automatically" in str(m.blocks)]
    assert len(told) == 1 and f"<@{ANN}>" in str(told[0].blocks)
    assert "Closed* (no response) by Baton" in str((await senv.card(esc_id)).blocks)


async def test_a_customer_who_keeps_writing_is_never_closed(senv: SlackEnv) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    for n in range(5):
        _later(senv, timedelta(hours=20))
        wrote = await senv.client.post(
            f"/v1/escalations/{esc_id}/messages",
            json={"content": f"still here ({n})"},
            headers=senv.env.auth,
        )
        assert wrote.status_code == 201
        _later(senv, timedelta(hours=20))
        assert await _sweep(senv) == 0
    assert (await _status(senv, esc_id))["status"] == "taken"
    # An assistant's message is not the customer writing.
    await senv.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={"role": "assistant", "content": "(the bot, talking)"},
        headers=senv.env.auth,
    )
    _later(senv, timedelta(hours=5))
    assert await _sweep(senv) == 1


async def test_auto_close_is_off_unless_configured(database_url: str) -> None:
    env, lifespan = await start_env(database_url)
    try:
        jobs = {job.id for job in build_timed_jobs(env.services).get_jobs()}
        assert "lifecycle.auto_close" not in jobs and "sla.sweep" in jobs
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_three_scheduler_processes_on_postgresql_close_each_once(
    pg_database: str, tmp_path: Path
) -> None:
    config = tmp_path / "baton.toml"
    config.write_text('[lifecycle]\nauto_close_after = "2s"\n')
    await _truncate(pg_database)  # this test counts every close in the database
    env, lifespan = await start_env(pg_database)
    log_path = tmp_path / "scheduler.log"
    shell = {
        **clean_env(),
        "BATON_DATABASE_URL": pg_database,
        "BATON_SECRET_KEY": TEST_SECRET_KEY,
        "BATON_CONFIG": str(config),
    }
    try:
        ids = []
        for n in range(20):
            esc = await env.create(conversation_id=f"conv_quiet_{n}")
            taken = await env.client.post(
                f"/v1/escalations/{esc['id']}/take", json={"agent": "minh"}, headers=env.auth
            )
            assert taken.status_code == 200
            ids.append(esc["id"])
        with log_path.open("a") as log:
            processes = [
                subprocess.Popen([BATON, "scheduler"], env=shell, stdout=log, stderr=log)
                for _ in range(3)
            ]
        try:

            async def all_closed() -> bool:
                async with env.db.read() as s:
                    rows = await s.execute(
                        select(Event.escalation_id).where(Event.type == "closed")
                    )
                    return len(set(rows.scalars())) == 20

            try:
                await eventually(all_closed, seconds=30, what="20 quiet escalations closed")
            except AssertionError as exc:
                said = log_path.read_text()
                raise AssertionError(f"{exc}; the schedulers said:\n{said}") from None
            await asyncio.sleep(2.5)  # more sweeps by each process
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
        async with env.db.read() as s:
            closes = Counter(
                (await s.execute(select(Event.escalation_id).where(Event.type == "closed")))
                .scalars()
                .all()
            )
            sent = Counter(
                (
                    await s.execute(
                        select(OutboxRow.escalation_id).where(
                            OutboxRow.topic == Topic.platform,
                            OutboxRow.kind == "escalation.closed",
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert closes == Counter(ids) and sent == Counter(ids)  # each once
        assert log_path.read_text().count("Baton scheduler: running the timed jobs") == 3
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)
