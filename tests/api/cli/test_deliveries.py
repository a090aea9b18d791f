"""`baton deliveries list`: a table that fits a 120-column terminal with whole ids and the
times, and every field when piped."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from api.cli.deliveries import delivery_table
from storage.models import DeliveryState, OutboxRow, Topic
from tests.api.cli.running import baton, plain

CREATED = datetime(2026, 11, 24, 7, 43, 29, tzinfo=UTC)
ESCALATION = "esc_01M86F5BCEABC70330DAASZ0X7"
ERROR = "HTTP 503 from https://bots.acme.example/baton: Service Unavailable; retrying"


def rows() -> list[OutboxRow]:
    return [
        OutboxRow(
            id=123456,
            topic=Topic.notify,
            kind="email.hourly",
            lane="email-3f2a9c1b7d5e",
            escalation_id=ESCALATION,
            event_id="evt_01M86F5BCEABC70330DAASZ0X8",
            state=DeliveryState.pending,
            attempts=7,
            created_at=CREATED,
            next_attempt_at=CREATED + timedelta(minutes=5),
            last_error=ERROR,
        ),
        OutboxRow(
            id=7,
            topic=Topic.platform,
            kind="escalation.message",
            escalation_id=ESCALATION.replace("X7", "X9"),
            state=DeliveryState.failed,
            attempts=12,
            created_at=CREATED,
            next_attempt_at=CREATED,
            last_error="410 Gone",
        ),
    ]


def drawn(width: int) -> str:
    console = Console(width=width, no_color=True, force_terminal=False, record=True)
    console.print(delivery_table(rows()))
    return console.export_text()


def test_the_table_fits_120_columns_with_whole_ids_and_the_times() -> None:
    text = drawn(120)
    lines = text.splitlines()
    assert all(len(line) <= 120 for line in lines)
    assert "…" not in text
    header = lines[0].split()
    assert header[:6] == ["id", "escalation", "type", "state", "tries", "created"]
    assert "next attempt" in lines[0] and "last error" in lines[0]
    for row in rows():
        assert row.escalation_id in text
        assert f"{row.id} {row.escalation_id}" in text
        assert row.kind in text
    local = CREATED.astimezone()
    assert local.strftime("%m-%d %H:%M") in text
    assert (local + timedelta(minutes=5)).strftime("%m-%d %H:%M") in text
    column = lines[0].index("last error")
    error = "".join(line[column:].strip() for line in lines[2:])
    assert "".join(ERROR.split()) in "".join(error.split())  # wrapped, not cut


def test_piped_it_is_one_line_per_delivery_with_every_field(tmp_path: Path) -> None:
    assert baton(tmp_path, "db", "upgrade").returncode == 0
    listed = baton(tmp_path, "deliveries", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "id\tevent\ttype\tescalation\tstate\tattempts\tcreated\tnext attempt\tlast error"
    ]
    on_a_terminal = baton(tmp_path, "deliveries", "list", terminal=True)
    assert plain(on_a_terminal.stdout).splitlines() == ["No deliveries match."]
