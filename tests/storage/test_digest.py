"""The daily digest's figures equal those computed independently from a generated day of
known escalations, driven through the API with a controllable clock."""

import random
import statistics
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from api.config import ApiSection, Config, parse_config
from storage.clock import ManualClock
from storage.digest import compute
from storage.models import WAIT_BUCKETS, Day
from tests.conftest import Env, start_env

ZONE = "Asia/Ho_Chi_Minh"  # UTC+7, no DST
DAY = Day.of(date(2026, 11, 23), ZONE)
TARGETS = {"urgent": (5 * 60, 60 * 60), "high": (15 * 60, 2 * 60 * 60)}  # low: none
AGENTS = ("U0ANN", "U0BOB", "U0CHI")
REASONS = ("customer_request", "low_confidence", "gate_failure", "keyword", "sentiment")
CHANNELS = ("whatsapp", "widget", "email")
CONFIG = parse_config(
    {
        "sla": {
            "timezone": ZONE,
            "targets": {
                p: {"first_take": f"{ft}s", "resolution": f"{res}s"}
                for p, (ft, res) in TARGETS.items()
            },
        }
    }
)


@dataclass
class Plan:
    """One escalation's known life: what happens to it, and when."""

    n: int
    created: datetime
    priority: str
    reason: str
    channel: str
    agent: str | None = None
    taken: datetime | None = None
    replied: datetime | None = None
    ended: datetime | None = None
    end: str | None = None  # "closed" or "returned"
    id: str = ""
    steps: list[tuple[datetime, str]] = field(default_factory=list)
    ratings: list[tuple[datetime, int]] = field(default_factory=list)  # the customer's, in order
    conversation: str = ""


def _generate(seed: int) -> list[Plan]:
    rng = random.Random(seed)
    plans = []
    day_seconds = int((DAY.end - DAY.start).total_seconds())
    starts = [DAY.start - timedelta(hours=rng.uniform(1, 5)) for _ in range(4)]  # the day before
    starts += [DAY.start + timedelta(seconds=rng.randrange(day_seconds)) for _ in range(45)]
    starts += [DAY.end + timedelta(minutes=rng.uniform(1, 60)) for _ in range(3)]  # the day after
    for n, created in enumerate(sorted(starts)):
        plan = Plan(
            n,
            created,
            rng.choice(("urgent", "high", "low")),
            rng.choice(REASONS),
            rng.choice(CHANNELS),
        )
        fate = rng.random()
        if fate < 0.7:
            plan.agent = rng.choice(AGENTS)
            plan.taken = created + timedelta(seconds=rng.uniform(10, 50 * 60))
            if rng.random() < 0.8:
                plan.replied = plan.taken + timedelta(seconds=rng.uniform(5, 20 * 60))
            if rng.random() < 0.75:
                after = plan.replied or plan.taken
                plan.ended = after + timedelta(seconds=rng.uniform(30, 3 * 60 * 60))
                plan.end = "closed" if rng.random() < 0.7 else "returned"
        elif fate < 0.85:
            plan.ended = created + timedelta(seconds=rng.uniform(30, 40 * 60))
            plan.end = "returned"
        plan.conversation = f"conv_{seed}_{n}"
        plans.append(plan)
    _rate(plans, random.Random(seed + 1))
    return sorted(plans + _bounces(plans, random.Random(seed + 2)), key=lambda p: p.created)


def _bounces(plans: list[Plan], rng: random.Random) -> list[Plan]:
    """Conversations returned to the bot that escalate again: some within 24 hours (a
    bounce), some later (not one)."""
    again = []
    for plan in plans:
        if plan.end != "returned" or plan.ended is None or rng.random() < 0.5:
            continue
        later = plan.ended + timedelta(hours=rng.choice((0.2, 3, 20, 30)))
        n = len(plans) + len(again)
        bounce = Plan(n, later, "low", rng.choice(REASONS), plan.channel)
        bounce.conversation = plan.conversation
        again.append(bounce)
    return again


def _rate(plans: list[Plan], rng: random.Random) -> None:
    """Customers rate most ended escalations, some of them twice (the later one counts)."""
    for plan in plans:
        if plan.ended is None or rng.random() < 0.4:
            continue
        when = plan.ended + timedelta(seconds=rng.uniform(60, 20 * 3600))
        plan.ratings.append((when, rng.randint(1, 5)))
        if rng.random() < 0.3:
            later = when + timedelta(seconds=rng.uniform(60, 8 * 3600))
            plan.ratings.append((later, rng.randint(1, 5)))


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Env]:
    config = Config(api=ApiSection(rate_limit=0), sla=CONFIG.sla)
    environment, lifespan = await start_env(database_url, config=config, manual_clock=True)
    try:
        yield environment
    finally:
        await environment.client.aclose()
        await lifespan.__aexit__(None, None, None)


async def _play(env: Env, plans: list[Plan]) -> None:
    """Every step of every plan, in time order, with the clock at each step's time."""
    clock = env.clock
    assert isinstance(clock, ManualClock)
    steps: list[tuple[datetime, int, str]] = []
    for p in plans:
        steps.append((p.created, p.n, "create"))
        if p.taken:
            steps.append((p.taken, p.n, "take"))
        if p.replied:
            steps.append((p.replied, p.n, "reply"))
        if p.ended:
            steps.append((p.ended, p.n, p.end or ""))
        steps += [(when, p.n, f"rate:{score}") for when, score in p.ratings]
    by_n = {p.n: p for p in plans}
    for when, n, action in sorted(steps):
        clock.set(when)
        p = by_n[n]
        if action == "create":
            body = await env.create(
                conversation_id=p.conversation,
                priority=p.priority,
                reason=p.reason,
                channel=p.channel,
                customer={"id": f"cust_{n}", "name": f"Customer {n}"},
            )
            p.id = body["id"]
            continue
        if action.startswith("rate:"):
            score = int(action.removeprefix("rate:"))
            rated = await env.client.post(
                f"/v1/escalations/{p.id}/rating", json={"score": score}, headers=env.auth
            )
            assert rated.status_code == 200, rated.text
            continue
        agent = p.agent or "U0LEAD"
        payload: dict[str, Any] = {"agent": agent}
        if action == "reply":
            payload["content"] = f"Hello from {agent}"
        if action == "closed":
            payload["resolution"] = "resolved"
        path = {"take": "take", "reply": "reply", "closed": "close", "returned": "return"}[action]
        response = await env.client.post(
            f"/v1/escalations/{p.id}/{path}", json=payload, headers=env.auth
        )
        assert response.status_code in (200, 201), response.text


def _in_day(when: datetime | None) -> bool:
    return when is not None and DAY.start <= when < DAY.end


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def _p90(values: list[float]) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < 0.01


async def test_digest_figures_match_an_independent_count_of_a_known_day(env: Env) -> None:
    plans = _generate(seed=7)
    await _play(env, plans)
    conversations = 1234
    for day, count in ((DAY.day, conversations), (DAY.day + timedelta(days=1), 99)):
        said = await env.client.put(
            f"/v1/stats/conversations/{day}", json={"count": count}, headers=env.auth
        )
        assert said.status_code == 200
    now = DAY.end + timedelta(hours=9)  # 09:00 the next morning, when it goes out
    assert isinstance(env.clock, ManualClock)
    env.clock.set(max(now, max(p.created for p in plans) + timedelta(minutes=1)))

    digest = await compute(env.db, DAY)

    of_day = [p for p in plans if _in_day(p.created)]
    takes = [p for p in plans if _in_day(p.taken)]
    assert digest.created == len(of_day)
    assert digest.taken == len(takes)
    assert digest.closed == sum(_in_day(p.ended) and p.end == "closed" for p in plans)
    assert digest.returned == sum(_in_day(p.ended) and p.end == "returned" for p in plans)

    waits = sorted(_seconds(p.taken, p.created) for p in takes if p.taken)
    assert _close(digest.wait_median, statistics.median(waits))
    assert _close(digest.wait_p90, _p90(waits))
    resolutions = [
        _seconds(p.ended, p.created)
        for p in plans
        if p.ended and _in_day(p.ended) and p.end == "closed"
    ]
    assert _close(digest.resolution_median, statistics.median(resolutions))

    first_take = [
        (p.taken or p.ended) <= p.created + timedelta(seconds=TARGETS[p.priority][0])  # type: ignore[operator]
        for p in plans
        if p.priority in TARGETS and _in_day(p.taken or p.ended)
    ]
    resolution = [
        p.ended <= p.created + timedelta(seconds=TARGETS[p.priority][1])  # type: ignore[operator]
        for p in plans
        if p.priority in TARGETS and _in_day(p.ended)
    ]
    compliance = {c.target: (c.met, c.total) for c in digest.compliance}
    assert compliance == {
        "first_take": (sum(first_take), len(first_take)),
        "resolution": (sum(resolution), len(resolution)),
    }
    assert 0 < sum(first_take) < len(first_take), "the generated day has both met and missed"

    reasons = Counter(p.reason for p in of_day)
    assert dict(digest.reasons) == dict(reasons.most_common(5))
    assert [count for _, count in digest.reasons] == sorted(reasons.values(), reverse=True)[:5]
    channels = {c.channel: (c.created, c.taken) for c in digest.channels}
    assert channels == {
        name: (
            sum(p.channel == name for p in of_day),
            sum(p.channel == name and p.taken is not None for p in of_day),
        )
        for name in {p.channel for p in of_day}
    }

    agents = {a.agent_id: a for a in digest.agents}
    assert set(agents) == {p.agent for p in takes}
    for agent, row in agents.items():
        mine = [p for p in takes if p.agent == agent]
        assert row.handled == len(mine)
        firsts = [_seconds(p.replied, p.taken) for p in mine if p.replied and p.taken]
        assert _close(row.median_first_reply, statistics.median(firsts) if firsts else None)
    assert [a.handled for a in digest.agents] == sorted(
        (a.handled for a in digest.agents), reverse=True
    )

    queued = sorted(
        (p for p in plans if p.taken is None and p.ended is None), key=lambda p: p.created
    )
    assert digest.waiting_total == len(queued)
    assert [w.escalation_id for w in digest.waiting] == [p.id for p in queued[:10]]

    latest = [p.ratings[-1] for p in plans if p.ratings]
    scores = [score for when, score in latest if _in_day(when)]
    assert digest.ratings == len(scores)
    assert _close(digest.rating_average, statistics.mean(scores))
    assert 0 < len(scores) < len(latest), "ratings came that day and on the next"
    assert any(len(p.ratings) == 2 and _in_day(p.ratings[0][0]) for p in plans)

    assert (digest.conversations, digest.escalated) == (conversations, len(of_day))
    assert _close(digest.escalation_rate, len(of_day) / conversations)
    returned = [p for p in plans if p.end == "returned" and _in_day(p.ended)]
    bounced = [
        p
        for p in returned
        if any(
            q.conversation == p.conversation
            and p.ended < q.created <= p.ended + timedelta(hours=24)  # type: ignore[operator]
            for q in plans
        )
    ]
    assert (digest.returned_to_bot, digest.bounced) == (len(returned), len(bounced))
    assert 0 < len(bounced) < len(returned), "the day has bounces, and returns that stayed"

    per_hour = Counter(int(_seconds(p.created, DAY.start) // 3600) for p in of_day)
    assert digest.per_hour == [per_hour.get(h, 0) for h in range(24)]
    buckets = Counter(sum(w >= bound for bound in WAIT_BUCKETS) for w in waits)
    assert digest.wait_buckets == [buckets.get(i, 0) for i in range(len(WAIT_BUCKETS) + 1)]


async def test_an_empty_day_has_no_medians_and_nobody_waiting(env: Env) -> None:
    digest = await compute(env.db, DAY)
    assert (digest.created, digest.taken, digest.closed, digest.returned) == (0, 0, 0, 0)
    assert digest.wait_median is None and digest.wait_p90 is None
    assert digest.resolution_median is None
    assert [(c.met, c.total, c.share) for c in digest.compliance] == [(0, 0, None), (0, 0, None)]
    assert digest.agents == [] and digest.waiting == [] and digest.waiting_total == 0
    assert digest.per_hour == [0] * 24


def test_a_day_spans_local_midnight_to_midnight_across_dst() -> None:
    spring = Day.of(date(2026, 3, 29), "Europe/Paris")  # clocks go forward: 23 hours
    assert spring.start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert spring.hours == 23
    autumn = Day.of(date(2026, 10, 25), "Europe/Paris")  # clocks go back: 25 hours
    assert autumn.hours == 25
    assert DAY.start == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
