"""One error path: a bad setting, a database that cannot be reached or a bad command-line
value ends with one line naming what to change, and exit status 2, never a traceback."""

from pathlib import Path

import pytest

from tests.api.cli.running import baton, one_line_error
from tests.conftest import TEST_SECRET_KEY

UNREACHABLE = "postgresql://postgres:hunter22@127.0.0.1:1/x"
PUBLIC_CALLBACK = "https://93.184.215.14/hook"  # a literal public address: no DNS asked


@pytest.mark.parametrize("command", [("platforms", "list"), ("db", "upgrade"), ("serve",)])
def test_an_unreachable_database_is_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = baton(
        tmp_path, *command, BATON_DATABASE_URL=UNREACHABLE, BATON_SECRET_KEY=TEST_SECRET_KEY
    )
    line = one_line_error(result)
    assert "cannot reach the database at postgresql://postgres:***@127.0.0.1:1/x" in line
    assert "BATON_DATABASE_URL" in line
    assert "hunter22" not in line


@pytest.mark.parametrize(
    ("settings", "command", "said"),
    [
        ({"BATON_LOG_LEVEL": "verbose"}, ("serve",), "BATON_LOG_LEVEL: 'verbose' is not a log"),
        (
            {"BATON_ALLOW_PRIVATE_CALLBACKS": "maybe"},
            ("platforms", "add", "acme", "--callback-url", PUBLIC_CALLBACK),
            "BATON_ALLOW_PRIVATE_CALLBACKS='maybe': Input should be a valid boolean",
        ),
        (
            {"BATON_SECRET_KEY": "not-a-key"},
            ("platforms", "add", "acme", "--callback-url", PUBLIC_CALLBACK),
            "BATON_SECRET_KEY: the secret key must be 32 url-safe base64-encoded bytes",
        ),
        (
            {"BATON_DATABASE_URL": "mysql://baton:pw@db.internal/baton"},
            ("platforms", "list"),
            "BATON_DATABASE_URL: mysql:// is not supported; use postgresql://",
        ),
        (
            {"BATON_DATABASE_URL": "mysql://baton:pw@db.internal/baton"},
            ("db", "upgrade"),
            "BATON_DATABASE_URL: mysql:// is not supported",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, settings: dict[str, str], command: tuple[str, ...], said: str
) -> None:
    line = one_line_error(baton(tmp_path, *command, **settings))
    assert said in line
    assert list(tmp_path.iterdir()) == []  # nothing made on the way to the error


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (("demo", "--timeout", "0"), "Invalid value for '--timeout'"),
        (("deliveries", "replay", "twelve"), "(see `baton deliveries replay --help`)"),
        (("platforms", "add", "acme"), "Missing option '--callback-url'"),
        (("nonsense",), "No such command 'nonsense'"),
        (("manifest", "--url", "http://baton.example.com"), "--url: "),
        (("digest",), "pass --now to post the digest, or --dry-run"),
    ],
)
def test_a_bad_command_line_value_is_one_line(
    tmp_path: Path, command: tuple[str, ...], said: str
) -> None:
    assert said in one_line_error(baton(tmp_path, *command))


def test_square_brackets_in_an_error_are_kept(tmp_path: Path) -> None:
    slack = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s" * 32}
    line = one_line_error(baton(tmp_path, "serve", **slack))
    assert "BATON_ESCALATION_CHANNEL (or [slack] escalation_channel) is required" in line


def test_square_brackets_in_help_are_kept(tmp_path: Path) -> None:
    result = baton(tmp_path, "digest", "--help")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "the scheduler posts it at [digest] time" in said
    assert "--date YYYY-MM-DD The day, in the [sla] timezone" in said


@pytest.mark.parametrize(
    "command",
    [
        ("serve",),
        ("demo",),
        ("digest",),
        ("manifest",),
        ("platforms", "add"),
        ("platforms", "rotate-key"),
        ("deliveries", "list"),
    ],
)
def test_options_read_without_type_placeholders(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = baton(tmp_path, *command, "--help")
    assert result.returncode == 0, result.stderr
    options = [line for line in result.stdout.splitlines() if line.lstrip().startswith("--")]
    assert options
    for line in options:
        assert "<bool>" not in line and "<str>" not in line and "<int>" not in line, line
        assert "range>" not in line, line


def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = baton(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"baton {version('baton')}\n"
