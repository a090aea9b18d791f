"""``baton deliveries``: what the outbox sent, or will send, and sending parked rows again."""

import sys
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from api.cli.console import out
from api.cli.installation import Schema, on_database, read_settings
from api.cli.problems import FAILED, Problem
from storage.database import Database
from storage.models import DeliveryState, OutboxRow, Topic
from storage.outbox import deliveries

app = typer.Typer(
    help="Events sent to platforms: inspect and replay.",
    rich_markup_mode=None,
    no_args_is_help=True,
)

# Piped: every field, times in ISO 8601 (UTC), one tab-separated line per delivery.
HEADER = (
    "id",
    "event",
    "type",
    "escalation",
    "state",
    "attempts",
    "created",
    "next attempt",
    "last error",
)
ID_WIDTH = 30  # esc_ and a ULID: never cut


@app.command("list")
def list_(
    failed: Annotated[bool, typer.Option("--failed", help="Only parked deliveries.")] = False,
    slack: Annotated[
        bool, typer.Option("--slack", help="Posts to Slack (cards, thread posts) instead.")
    ] = False,
    notifications: Annotated[
        bool,
        typer.Option(
            "--notifications", help="Emails and webhooks of the notifications entries instead."
        ),
    ] = False,
    limit: Annotated[
        int, typer.Option(metavar="N", min=1, help="At most this many, newest first.")
    ] = 50,
) -> None:
    """List events sent (or to be sent) to platforms, posts to Slack with --slack, or
    notifications with --notifications (the type names the entry; email.hourly rows hold
    an hour's events, which wait as hourly rows until then)."""
    if slack and notifications:
        raise Problem("choose one of --slack and --notifications")
    topics = (
        (Topic.slack,)
        if slack
        else (Topic.notify, Topic.hourly)
        if notifications
        else (Topic.platform,)
    )

    def listed(db: Database) -> Awaitable[list[OutboxRow]]:
        return deliveries.list_deliveries(db, topics=topics, failed_only=failed, limit=limit)

    rows = on_database(read_settings(), listed, Schema.current)
    if not out.is_terminal:
        for line in (HEADER, *(piped_row(row) for row in rows)):
            sys.stdout.write("\t".join(line) + "\n")
    elif rows:
        out.print(delivery_table(rows))
    else:
        out.print("No deliveries match.")


@app.command("replay")
def replay(
    ids: Annotated[
        list[int] | None, typer.Argument(metavar="ID", help="Delivery ids to send again.")
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every parked delivery.")
    ] = False,
) -> None:
    """Send parked deliveries (to platforms or Slack) again; a running server picks them up
    within a second."""
    if not ids and not all_failed:
        raise Problem("name delivery ids, or pass --all-failed")

    def queue(db: Database) -> Awaitable[int]:
        return deliveries.replay(db, None if all_failed else ids)

    count = on_database(read_settings(), queue, Schema.current)
    out.print(f"Queued {count} parked deliver{'y' if count == 1 else 'ies'} again.")
    if ids and count < len(ids):
        raise Problem(f"{len(ids) - count} of the given ids are not parked deliveries", FAILED)


def piped_row(row: OutboxRow) -> tuple[str, ...]:
    return (
        str(row.id),
        row.event_id or "",
        _kind(row),
        row.escalation_id,
        str(row.state),
        str(row.attempts),
        row.created_at.isoformat(),
        row.next_attempt_at.isoformat() if row.state is DeliveryState.pending else "",
        row.last_error or "",
    )


def delivery_table(rows: Sequence[OutboxRow]) -> Table:
    """Fits a terminal of 120 columns: escalation ids whole, local times to the minute, the
    type and the error wrapped. The event id (the webhook's id) and exact times are in the
    piped form."""
    table = Table(box=box.SIMPLE_HEAD, padding=0, show_edge=False, highlight=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("escalation", no_wrap=True, min_width=ID_WIDTH)
    table.add_column("type", min_width=19, overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("next attempt", no_wrap=True)
    table.add_column("last error", ratio=1, min_width=16, overflow="fold")
    for row in rows:
        table.add_row(
            str(row.id),
            row.escalation_id,
            escape(_kind(row)),
            str(row.state),
            str(row.attempts),
            _local(row.created_at),
            _local(row.next_attempt_at) if row.state is DeliveryState.pending else "",
            escape(row.last_error or ""),
        )
    return table


def _kind(row: OutboxRow) -> str:
    return f"{row.kind} ({row.lane})" if row.lane else row.kind


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%m-%d %H:%M")
