"""SLA alerts: each at-risk and breach announced once per escalation and target, in the
thread (calling the on-call group), to managers and to the owner, however many sweep."""

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.config import ApiSection, Config, load_config, parse_config
from api.demo.slack_standin import StandIn
from bot.manifest import bot_scopes
from scheduler.jobs import sla_sweep
from storage import sla_alerts
from storage.clock import ManualClock
from storage.database import Database
from storage.models import Event
from tests.bot.conftest import (
    ANN,
    MANAGERS,
    SlackEnv,
    eventually,
    running_slack_env,
)
from tests.conftest import TEST_SECRET_KEY, _truncate, escalation_body, start_env
from tests.processes import BATON, clean_env

SLA = {
    "at_risk": [0.5, 0.9],
    "targets": {"urgent": {"first_take": "10m", "resolution": "1h"}},
}


@pytest.fixture
async def senv(database_url: str, standin: StandIn) -> AsyncIterator[SlackEnv]:
    config = parse_config({"slack": {"oncall_group": "S0ONCALL"}, "sla": SLA})
    async with running_slack_env(
        database_url,
        standin,
        config=Config(api=ApiSection(rate_limit=0), slack=config.slack, sla=config.sla),
        manual_clock=True,
        managers_channel=MANAGERS,
    ) as environment:
        yield environment


def _clock(senv: SlackEnv) -> ManualClock:
    assert isinstance(senv.env.clock, ManualClock)
    return senv.env.clock


async def _alert_events(db: Database) -> list[tuple[str, str, int]]:
    async with db.read() as s:
        rows = (
            await s.execute(
                select(Event)
                .where(Event.type.in_(["sla_at_risk", "sla_breached"]))
                .order_by(Event.id)
            )
        ).scalars()
        return [(e.type, e.data["target"], e.data["level"]) for e in rows]


async def _sweep(senv: SlackEnv) -> int:
    raised = await sla_sweep(senv.env.db, senv.env.services.machine.sla)
    await senv.deliver()
    return raised


def _texts(messages: list) -> str:  # type: ignore[type-arg]
    return json.dumps([m.blocks for m in messages])


async def test_each_alert_is_announced_once_in_the_thread_to_managers_and_owner(
    senv: SlackEnv,
) -> None:
    esc_id = await senv.escalate(priority="urgent")
    clock = _clock(senv)
    assert await _sweep(senv) == 0

    clock.advance(timedelta(minutes=5))
    assert await _sweep(senv) == 1
    assert await _sweep(senv) == 0  # swept again: nothing new
    thread = _texts(await senv.replies(esc_id))
    assert "SLA at risk" in thread and "<!subteam^S0ONCALL>" in thread
    assert "at risk" in json.dumps((await senv.card(esc_id)).blocks)

    clock.advance(timedelta(minutes=5))  # 10 min: the 90 % mark and the breach, together
    assert await _sweep(senv) == 1  # one alert: the breach (the level jumps past 90 %)
    assert "SLA breached" in _texts(await senv.replies(esc_id))
    (managers,) = senv.slack.top_level(MANAGERS)
    assert "Nobody has taken it" in _texts([managers])
    assert "https://standin.slack.test/archives/" in _texts([managers])

    await senv.take(esc_id, ANN)
    clock.advance(timedelta(minutes=50))  # 1 h: resolution at risk and breached
    assert await _sweep(senv) == 1
    assert len(senv.slack.top_level(MANAGERS)) == 2
    (dm,) = senv.slack.top_level(f"D{ANN}")
    assert "your escalation" in _texts([dm])
    # With the manifest's scopes; posted to the owner's id, no DM opened first.
    assert set(senv.slack.scopes) == set(bot_scopes())
    assert senv.slack.calls_to("conversations.open") == []
    assert await _alert_events(senv.env.db) == [
        ("sla_at_risk", "first_take", 1),
        ("sla_breached", "first_take", 100),
        ("sla_breached", "resolution", 100),
    ]
    clock.advance(timedelta(hours=5))
    assert await _sweep(senv) == 0


async def test_three_sweepers_at_once_raise_each_alert_once(senv: SlackEnv) -> None:
    for _ in range(30):
        await senv.env.create(priority="urgent")
    _clock(senv).advance(timedelta(minutes=30))
    policy = senv.env.services.machine.sla
    sweepers = [Database(senv.env.db.url, clock=senv.env.clock) for _ in range(3)]
    try:
        raised = await asyncio.gather(*(sla_alerts.sweep(db, policy) for db in sweepers))
    finally:
        for db in sweepers:
            await db.dispose()
    # Each escalation: its first take breached, its resolution at risk (50 % of 1 h).
    assert sum(len(r) for r in raised) == 60
    events = await _alert_events(senv.env.db)
    assert sorted({(t, target) for t, target, _ in events}) == [
        ("sla_at_risk", "resolution"),
        ("sla_breached", "first_take"),
    ]
    assert len(events) == 60


async def test_three_scheduler_processes_on_postgresql_announce_each_alert_once(
    pg_database: str, tmp_path: Path
) -> None:
    config = tmp_path / "baton.toml"
    config.write_text(
        '[scheduler]\nsla_sweep = "0.2s"\n'
        '[sla]\nat_risk = [0.5]\n[sla.targets.urgent]\nfirst_take = "4s"\n'
    )
    await _truncate(pg_database)  # this test counts every alert in the database
    env, lifespan = await start_env(pg_database, config=parse_config_file(config))
    try:
        log_path = tmp_path / "scheduler.log"
        log = log_path.open("a")
        shell = {
            **clean_env(),
            "BATON_DATABASE_URL": pg_database,
            "BATON_SECRET_KEY": TEST_SECRET_KEY,
            "BATON_CONFIG": str(config),
        }
        processes = [
            subprocess.Popen(
                [BATON, "scheduler"],
                env=shell,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        try:
            # Escalate only once all three sweep: one that started late would find the
            # at-risk mark already passed and (rightly) announce the breach alone.
            def all_sweeping() -> bool:
                return log_path.read_text().count("Baton scheduler: running the timed jobs") == 3

            await eventually(all_sweeping, seconds=30, what="three schedulers to start")
            for _ in range(20):
                await env.create(**{**escalation_body(), "priority": "urgent"})

            async def every_alert_raised() -> bool:
                return len(await _alert_events(env.db)) >= 40

            try:
                await eventually(every_alert_raised, seconds=30, what="40 alerts")
            except AssertionError as exc:
                raise AssertionError(
                    f"{exc}; the schedulers said:\n{log_path.read_text()}"
                ) from None
            await asyncio.sleep(1)  # several more sweeps by each process
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
        events = await _alert_events(env.db)
        assert sorted(set(events)) == [
            ("sla_at_risk", "first_take", 1),
            ("sla_breached", "first_take", 100),
        ]
        async with env.db.read() as s:
            per = await s.execute(
                select(Event.escalation_id, func.count())
                .where(Event.type.like("sla_%"))
                .group_by(Event.escalation_id)
            )
            assert sorted(n for _, n in per) == [2] * 20
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)


def parse_config_file(path: Path) -> Config:
    loaded = load_config(path)
    return Config(api=ApiSection(rate_limit=0), scheduler=loaded.scheduler, sla=loaded.sla)
