"""``baton digest``: the managers' digest of one day, printed here or posted to Slack."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console
from slack_sdk.errors import SlackApiError, SlackClientError

from api.cli.installation import Schema, on_database, run_on
from api.cli.problems import FAILED, Problem
from api.cli.terminal_text import mrkdwn_text
from api.config import Config
from api.http.app import build_digest_poster
from api.services import Services
from api.settings import Settings
from blocks.digest import digest_lines
from storage.clock import Clock, SystemClock
from storage.database import Database
from storage.digest import compute
from storage.models import Day


def parse_day(given: str | None, timezone: str, clock: Clock) -> date:
    """The day asked for, or yesterday in the SLA timezone; a Problem names a bad one."""
    today = clock.now().astimezone(ZoneInfo(timezone)).date()
    if given is None:
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(given)
    except ValueError:
        raise Problem(f"--date {given!r} is not a date such as 2026-11-23") from None
    if day > today:
        raise Problem(f"--date {given} is in the future")
    return day


def print_digest(settings: Settings, config: Config, given: str | None, out: Console) -> None:
    """Read-only: the database must exist, and is left as it is."""
    timezone = config.sla.timezone
    day = parse_day(given, timezone, SystemClock())

    async def lines(db: Database) -> list[str]:
        return digest_lines(await compute(db, Day.of(day, timezone)), db.clock.now())

    title, *sections = on_database(settings, lines, Schema.current)
    out.rule(title)
    for text in sections:
        out.print(mrkdwn_text(text), highlight=False)
        out.print()


def post_digest(services: Services, given: str | None, out: Console) -> None:
    day = parse_day(given, services.config.sla.timezone, services.db.clock)
    poster = build_digest_poster(services)
    if poster is None:
        raise Problem(
            "Slack is not set up for the digest: it needs SLACK_BOT_TOKEN and "
            "BATON_MANAGERS_CHANNEL (or [slack] managers_channel)"
        )

    async def post(_: Database) -> str:
        try:
            return await poster.post(day)
        except SlackApiError as exc:
            error = exc.response.get("error")
            raise Problem(f"Slack refused the digest: {error}", FAILED) from None
        except (SlackClientError, OSError) as exc:
            raise Problem(f"could not reach Slack: {exc}", FAILED) from None

    ts = run_on(services.db, post, services.settings.database_url, Schema.upgraded)
    out.print(f"Posted the digest of {day} to {poster.channel} (ts {ts}).", highlight=False)
