"""The managers' daily digest in Slack: sent at its local time, once per day however often
the job fires and however many replicas run it, retried when Slack fails, with the chart of
the day when the charts extra is installed."""

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import pytest

from api.config import ApiSection, Config, parse_config
from api.demo.slack_standin import Fault, StandIn
from api.http.app import build_digest_poster, build_services
from bot.manifest import bot_scopes
from scheduler.jobs import DailyDigest, daily_digest
from storage import digest_runs
from storage.clock import ManualClock
from tests.bot.conftest import MANAGERS, SlackEnv, running_slack_env, running_standin
from tests.conftest import make_settings

ZONE = "Asia/Ho_Chi_Minh"
DAY = date(2026, 11, 23)
BEFORE_NINE = datetime(2026, 11, 24, 1, 59, tzinfo=UTC)  # 08:59 in Ho Chi Minh City
NINE = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CONFIG = parse_config({"sla": {"timezone": ZONE}, "digest": {"time": "09:00"}})


@pytest.fixture
async def senv(database_url: str, standin: StandIn) -> AsyncIterator[SlackEnv]:
    async with running_slack_env(
        database_url,
        standin,
        config=Config(api=ApiSection(rate_limit=0), sla=CONFIG.sla, digest=CONFIG.digest),
        manual_clock=True,
        managers_channel=MANAGERS,
    ) as environment:
        assert isinstance(environment.env.clock, ManualClock)
        environment.env.clock.set(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))  # 10:00 local
        yield environment


def _job(senv: SlackEnv, services: object = None) -> DailyDigest:
    svc = services or senv.env.services
    poster = build_digest_poster(svc)  # type: ignore[arg-type]
    assert poster is not None
    return DailyDigest(time(9, 0), ZONE, poster.send)


def _digests(standin: StandIn) -> list[object]:
    return [
        m
        for m in standin.top_level(MANAGERS)
        if (m.metadata or {}).get("event_type") == "baton_digest"
    ]


def _clock(senv: SlackEnv) -> ManualClock:
    assert isinstance(senv.env.clock, ManualClock)
    return senv.env.clock


async def test_sent_once_at_nine_local_with_the_day_and_links_to_waiting_cards(
    senv: SlackEnv,
) -> None:
    waiting = await senv.escalate(customer={"id": "c1", "name": "Lan <!channel>"})
    taken = await senv.escalate(customer={"id": "c2", "name": "Minh"})
    _clock(senv).advance(timedelta(minutes=4))
    await senv.take(taken, "U0ANN")
    job = _job(senv)

    _clock(senv).set(BEFORE_NINE)
    assert await daily_digest(senv.env.db, job, "replica-a") is None
    assert _digests(senv.slack) == []

    _clock(senv).set(NINE)
    assert await daily_digest(senv.env.db, job, "replica-a") == DAY
    assert await daily_digest(senv.env.db, job, "replica-a") is None  # fired again
    _clock(senv).advance(timedelta(hours=3))
    assert await daily_digest(senv.env.db, job, "replica-b") is None  # later that day

    [message] = _digests(senv.slack)
    assert message.metadata == {  # type: ignore[attr-defined]
        "event_type": "baton_digest",
        "event_payload": {"day": "2026-11-23"},
    }
    blocks = json.dumps(message.blocks, ensure_ascii=False)  # type: ignore[attr-defined]
    assert "Escalations on Monday 23 November 2026" in blocks
    assert "*2* created · *1* taken" in blocks
    assert "median 4 min, p90 4 min" in blocks
    assert "<@U0ANN>: took 1, no reply after a take" in blocks
    card = await senv.card(waiting)
    permalink = f"https://standin.slack.test/archives/{card.channel}/p{card.ts.replace('.', '')}"
    assert f"<{permalink}|Lan &lt;!channel&gt;>" in blocks
    assert "<!channel>" not in blocks
    run = await digest_runs.load(senv.env.db, DAY)
    assert run is not None and run.message_ts == message.ts  # type: ignore[attr-defined]

    [chart] = senv.slack.files.values()
    assert chart.content.startswith(b"\x89PNG")
    assert (chart.channel, chart.thread_ts) == (MANAGERS, message.ts)  # type: ignore[attr-defined]


async def test_two_replicas_firing_together_send_one_digest(
    senv: SlackEnv, database_url: str
) -> None:
    await senv.escalate()
    other = build_services(
        make_settings(
            database_url,
            slack_bot_token=senv.slack.token,
            slack_signing_secret="x" * 32,
            slack_api_url=senv.slack.url,
            escalation_channel="C0ESCALATE",
            managers_channel=MANAGERS,
        ),
        Config(sla=CONFIG.sla, digest=CONFIG.digest),
        clock=senv.env.clock,
    )
    try:
        _clock(senv).set(NINE)
        jobs = [
            daily_digest(db, _job(senv, svc), name)
            for _ in range(3)
            for db, svc, name in (
                (senv.env.db, senv.env.services, "replica-a"),
                (other.db, other, "replica-b"),
            )
        ]
        sent = await asyncio.gather(*jobs)
    finally:
        await other.db.dispose()
    assert [day for day in sent if day is not None] == [DAY]
    assert len(_digests(senv.slack)) == 1


async def test_a_failed_post_is_retried_later_and_still_sent_once(senv: SlackEnv) -> None:
    job = _job(senv)
    _clock(senv).set(NINE)
    senv.slack.fail("chat.postMessage", Fault(status=500))
    assert await daily_digest(senv.env.db, job, "replica-a") is None
    run = await digest_runs.load(senv.env.db, DAY)
    assert run is not None and run.sent_at is None and "internal_error" in (run.last_error or "")

    _clock(senv).advance(timedelta(minutes=1))
    assert await daily_digest(senv.env.db, job, "replica-b") is None  # not yet: retried later
    _clock(senv).advance(digest_runs.RETRY_AFTER)
    assert await daily_digest(senv.env.db, job, "replica-b") == DAY
    assert len(_digests(senv.slack)) == 1


async def test_a_post_whose_answer_was_lost_is_found_not_posted_again(senv: SlackEnv) -> None:
    job = _job(senv)
    _clock(senv).set(NINE)
    senv.slack.fail("chat.postMessage", Fault(drop_connection=True))
    assert await daily_digest(senv.env.db, job, "replica-a") is None
    assert len(_digests(senv.slack)) == 1  # Slack posted it; the answer never came back

    _clock(senv).advance(digest_runs.RETRY_AFTER + timedelta(seconds=1))
    assert await daily_digest(senv.env.db, job, "replica-a") == DAY
    [message] = _digests(senv.slack)
    run = await digest_runs.load(senv.env.db, DAY)
    assert run is not None and run.message_ts == message.ts  # type: ignore[attr-defined]


async def test_without_the_charts_extra_the_digest_goes_out_as_text(
    senv: SlackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    _clock(senv).set(NINE)
    assert await daily_digest(senv.env.db, _job(senv), "replica-a") == DAY
    assert len(_digests(senv.slack)) == 1
    assert senv.slack.files == {}


async def test_the_chart_goes_up_with_the_manifests_scopes(senv: SlackEnv) -> None:
    """files_upload_v2 needs files:write: the manifest asks for it, so the chart arrives."""
    assert set(senv.slack.scopes) == set(bot_scopes())
    await senv.escalate()
    _clock(senv).set(NINE)
    assert await daily_digest(senv.env.db, _job(senv), "replica-a") == DAY
    [message] = _digests(senv.slack)
    [chart] = senv.slack.files.values()
    assert chart.content.startswith(b"\x89PNG")
    assert (chart.channel, chart.thread_ts) == (MANAGERS, message.ts)  # type: ignore[attr-defined]
    assert [c.method for c in senv.slack.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_without_files_write_the_digest_goes_out_and_the_log_names_the_scope(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    granted = [s for s in bot_scopes() if s != "files:write"]
    with running_standin(scopes=granted) as slack:
        async with running_slack_env(
            database_url,
            slack,
            config=Config(api=ApiSection(rate_limit=0), sla=CONFIG.sla, digest=CONFIG.digest),
            manual_clock=True,
            managers_channel=MANAGERS,
        ) as senv:
            _clock(senv).set(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
            await senv.escalate()
            _clock(senv).set(NINE)
            assert await daily_digest(senv.env.db, _job(senv), "replica-a") == DAY
    assert len(_digests(slack)) == 1
    assert slack.files == {}
    assert "the chart was not attached (missing_scope: the app needs files:write)" in caplog.text
