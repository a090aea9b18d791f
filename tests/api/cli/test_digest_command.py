"""`baton digest`, run as a user runs it: printed with --dry-run, posted with --now, and a
clear error for what it cannot do."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.demo.slack_standin import StandIn
from tests.api.cli.running import one_line_error, plain
from tests.bot.conftest import MANAGERS, running_standin
from tests.processes import BATON, clean_env


def _baton(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    settings = {
        "BATON_DATABASE_URL": f"sqlite:///{tmp_path / 'baton.db'}",
        "COLUMNS": "120",
        **env,
    }
    return subprocess.run(
        [BATON, "digest", *args],
        cwd=tmp_path,
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with running_standin() as server:
        yield server


def test_dry_run_prints_the_day_in_the_terminal(tmp_path: Path) -> None:
    upgraded = subprocess.run(
        [BATON, "db", "upgrade"], cwd=tmp_path, env=clean_env(), capture_output=True, check=True
    )
    assert upgraded.returncode == 0
    result = _baton(tmp_path, "--dry-run", "--date", "2026-11-23", TTY_COMPATIBLE="1")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no library's log lines
    shown = plain(result.stdout)
    assert "Escalations on Monday 23 November 2026" in shown
    assert "0 created · 0 taken · 0 returned to the bot · 0 closed" in shown
    assert "Wait to take: nothing was taken" in shown
    assert "Nobody is waiting now. 🎉" in shown
    assert "*" not in shown
    assert "\x1b[1m0\x1b[0m created" in result.stdout  # bold, as a terminal draws it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "pass --now to post the digest, or --dry-run"),
        (("--dry-run", "--date", "23/11/2026"), "is not a date such as 2026-11-23"),
        (("--dry-run", "--date", "2999-01-01"), "is in the future"),
        (("--now",), "needs SLACK_BOT_TOKEN and BATON_MANAGERS_CHANNEL"),
        (("--now", "BATON_SECRET_KEY=short"), "the secret key must be 32 url-safe"),
        (("--dry-run",), "no database at"),
    ],
)
def test_what_it_cannot_do_is_said_plainly(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    settings = dict(arg.split("=", 1) for arg in args if "=" in arg)
    result = _baton(tmp_path, *(arg for arg in args if "=" not in arg), **settings)
    assert message in one_line_error(result)


def test_now_posts_to_the_managers_channel(tmp_path: Path, standin: StandIn) -> None:
    slack = {
        "SLACK_BOT_TOKEN": standin.token,
        "SLACK_SIGNING_SECRET": "s" * 32,
        "BATON_SLACK_API_URL": standin.url,
        "BATON_ESCALATION_CHANNEL": "C0ESCALATE",
        "BATON_MANAGERS_CHANNEL": MANAGERS,
    }
    result = _baton(tmp_path, "--now", "--date", "2026-11-23", **slack)
    assert result.returncode == 0, result.stderr
    assert f"Posted the digest of 2026-11-23 to {MANAGERS}" in result.stdout
    [posted] = standin.top_level(MANAGERS)
    assert posted.metadata == {
        "event_type": "baton_digest",
        "event_payload": {"day": "2026-11-23"},
    }

    standin.channels[MANAGERS].clear()  # the bot was removed from the channel
    result = _baton(tmp_path, "--now", "--date", "2026-11-23", **slack)
    assert result.returncode == 1
    assert "Slack refused the digest: not_in_channel" in result.stderr
