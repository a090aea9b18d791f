"""``baton digest``: the managers' digest of one day, printed here or posted to Slack."""

import asyncio
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console
from slack_sdk.errors import SlackApiError, SlackClientError

from api.http.app import build_digest_poster
from api.services import Services
from blocks.digest import digest_lines
from storage.digest import compute
from storage.migrate import upgrade
from storage.models import Day


def parse_day(given: str | None, services: Services) -> date:
    """The day asked for, or yesterday in the SLA timezone; ValueError names a bad one."""
    zone = ZoneInfo(services.config.sla.timezone)
    today = services.db.clock.now().astimezone(zone).date()
    if given is None:
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(given)
    except ValueError:
        raise ValueError(f"--date {given!r} is not a date such as 2026-11-23") from None
    if day > today:
        raise ValueError(f"--date {given} is in the future")
    return day


def print_digest(services: Services, day: date, out: Console) -> None:
    async def run() -> list[str]:
        try:
            await upgrade(services.db)
            digest = await compute(services.db, Day.of(day, services.config.sla.timezone))
            return digest_lines(digest, services.db.clock.now())
        finally:
            await services.db.dispose()

    lines = asyncio.run(run())
    out.rule(lines[0])
    for text in lines[1:]:
        out.print(text, markup=False, highlight=False)
        out.print()


def post_digest(services: Services, day: date, out: Console) -> None:
    poster = build_digest_poster(services)
    if poster is None:
        raise ValueError(
            "Slack is not set up for the digest: it needs SLACK_BOT_TOKEN and "
            "BATON_MANAGERS_CHANNEL (or [slack] managers_channel)"
        )

    async def run() -> str:
        try:
            await upgrade(services.db)
            return await poster.post(day)
        except SlackApiError as exc:
            raise ValueError(f"Slack refused the digest: {exc.response.get('error')}") from None
        except (SlackClientError, OSError) as exc:
            raise ValueError(f"could not reach Slack: {exc}") from None
        finally:
            await services.db.dispose()

    ts = asyncio.run(run())
    out.print(f"Posted the digest of {day} to {poster.channel} (ts {ts}).", highlight=False)
