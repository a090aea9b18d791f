"""`baton doctor` as a newcomer runs it, against the Slack stand-in: every check green on a
sound installation, and each broken part named with its fix."""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from api.demo.slack_standin import BOT_USER, StandIn
from bot.manifest import bot_scopes
from tests.conftest import SMTP_PASSWORD, TEST_SECRET_KEY, WRONG_SMTP_PASSWORD
from tests.processes import BATON, clean_env, register_platform
from tests.smtp_server import SmtpTestServer, make_certificate

CHANNEL, MANAGERS = "C0ESCALATE", "C0MANAGERS"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CALLBACK = "http://127.0.0.1:9/hook"


def doctor(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A wide terminal: each finding stays on one line.
    return subprocess.run(
        [BATON, "doctor"],
        cwd=cwd,
        env={**env, "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def finding(output: str, check: str) -> str:
    """One check's mark, what it found and, from the line below, the fix."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line[2:].startswith(check + " "):
            below = lines[i + 1].strip() if i + 1 < len(lines) else ""
            fix = " " + below if below.startswith("fix:") else ""
            return line.rstrip() + fix
    raise AssertionError(f"no line for {check!r} in:\n{output}")


@contextmanager
def running(standin: StandIn) -> Iterator[StandIn]:
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def slack() -> Iterator[StandIn]:
    with running(StandIn(channels={CHANNEL: {BOT_USER}, MANAGERS: {BOT_USER}})) as standin:
        yield standin


def slack_env(slack: StandIn, tmp_path: Path, **extra: str) -> dict[str, str]:
    settings = {
        "BATON_DATABASE_URL": f"sqlite:///{tmp_path}/baton.db",
        "BATON_ALLOW_PRIVATE_CALLBACKS": "true",
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "BATON_SLACK_API_URL": slack.url,
        "BATON_ESCALATION_CHANNEL": CHANNEL,
        "BATON_MANAGERS_CHANNEL": MANAGERS,
    }
    return clean_env(**{**settings, **extra})


def install(env: dict[str, str], cwd: Path) -> None:
    """One platform registered (which brings the schema up to date too)."""
    register_platform(CALLBACK, env, cwd=cwd)


def test_a_sound_installation_passes_every_check(
    slack: StandIn, tmp_path: Path, database_url: str
) -> None:
    env = slack_env(
        slack, tmp_path, BATON_DATABASE_URL=database_url, BATON_SECRET_KEY=TEST_SECRET_KEY
    )
    install(env, tmp_path)
    result = doctor(env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [
        "settings",
        "configuration file",
        "database",
        "schema",
        "secret key",
        "platform acme",
        "Slack token",
        "signing secret",
        "Slack scopes",
        f"channel {CHANNEL}",
        f"channel {MANAGERS}",
    ]
    for check in checks:
        assert finding(result.stdout, check).startswith("✓"), check
    assert "✗" not in result.stdout
    assert f"All {len(checks)} checks passed." in result.stdout
    assert "escalation channel: the bot is a member" in finding(result.stdout, f"channel {CHANNEL}")


def test_a_bad_token_is_named_with_its_fix(slack: StandIn, tmp_path: Path) -> None:
    env = slack_env(slack, tmp_path, SLACK_BOT_TOKEN="xoxb-not-the-installed-one")
    install(env, tmp_path)
    result = doctor(env, tmp_path)
    assert result.returncode == 1
    line = finding(result.stdout, "Slack token")
    assert line.startswith("✗")
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in line
    assert "fix: copy the Bot User OAuth Token (xoxb-…)" in line
    assert finding(result.stdout, "channels").startswith("-")  # not checked without a token
    assert "xoxb-not-the-installed-one" not in result.stdout + result.stderr


def test_a_user_token_is_not_a_bot_token(slack: StandIn, tmp_path: Path) -> None:
    env = slack_env(slack, tmp_path, SLACK_BOT_TOKEN="xoxp-a-user-token")
    install(env, tmp_path)
    line = finding(doctor(env, tmp_path).stdout, "Slack token")
    assert "not a bot token" in line
    assert "fix: use the Bot User OAuth Token" in line


def test_a_missing_scope_is_named_with_its_fix(tmp_path: Path) -> None:
    granted = [s for s in bot_scopes() if s != "reactions:write"]
    with running(StandIn(channels={CHANNEL: {BOT_USER}}, scopes=granted)) as slack:
        env = slack_env(slack, tmp_path, BATON_MANAGERS_CHANNEL="")
        install(env, tmp_path)
        result = doctor(env, tmp_path)
    assert result.returncode == 1
    line = finding(result.stdout, "Slack scopes")
    assert line.startswith("✗")
    assert "missing reactions:write: marking an agent's reply delivered or failed" in line
    assert "fix: add reactions:write under OAuth & Permissions → Bot Token Scopes" in line
    assert "reinstall the app" in line
    assert "1 problem to fix." in result.stdout


def test_a_token_installed_from_the_old_manifest_is_told_what_dms_and_charts_need(
    tmp_path: Path,
) -> None:
    """The scopes the manifest lacked before: without them owners get no DM reminders and
    the digest no chart, and nothing else says so."""
    granted = [s for s in bot_scopes() if s not in ("im:write", "files:write")]
    with running(StandIn(channels={CHANNEL: {BOT_USER}}, scopes=granted)) as slack:
        env = slack_env(slack, tmp_path, BATON_MANAGERS_CHANNEL="")
        install(env, tmp_path)
        result = doctor(env, tmp_path)
    assert result.returncode == 1
    line = finding(result.stdout, "Slack scopes")
    assert line.startswith("✗")
    assert "missing files:write: uploading customers' attachments into card threads" in line
    assert "missing im:write: finding an owner's DM" in line
    assert "fix: add files:write, im:write under OAuth & Permissions" in line
    assert "1 problem to fix." in result.stdout


def test_a_channel_the_bot_is_not_in_is_named_with_its_fix(tmp_path: Path) -> None:
    with running(StandIn(channels={CHANNEL: {BOT_USER}, MANAGERS: {"U0ANN"}})) as slack:
        env = slack_env(slack, tmp_path)
        install(env, tmp_path)
        result = doctor(env, tmp_path)
    assert result.returncode == 1
    line = finding(result.stdout, f"channel {MANAGERS}")
    assert line.startswith("✗")
    assert "managers channel: the bot is not a member" in line
    assert "fix: in that channel, type /invite @baton" in line
    assert finding(result.stdout, f"channel {CHANNEL}").startswith("✓")


def test_a_routing_channel_slack_does_not_know_is_named(slack: StandIn, tmp_path: Path) -> None:
    config = tmp_path / "baton.toml"
    config.write_text('[[routing]]\npriority = ["urgent"]\nslack_channel = "C0NOSUCH"\n')
    env = slack_env(slack, tmp_path, BATON_CONFIG=str(config))
    install(env, tmp_path)
    result = doctor(env, tmp_path)
    assert result.returncode == 1
    line = finding(result.stdout, "channel C0NOSUCH")
    assert "routing rule 1: Slack knows no such channel" in line
    assert "fix: use the channel's id, C…" in line


def test_a_broken_configuration_file_names_the_key(slack: StandIn, tmp_path: Path) -> None:
    config = tmp_path / "baton.toml"
    config.write_text('[sla.targets.urgnt]\nfirst_take = "5m"\n')
    env = slack_env(slack, tmp_path, BATON_CONFIG=str(config))
    install_env = {**env, "BATON_CONFIG": ""}
    install(install_env, tmp_path)
    line = finding(doctor(env, tmp_path).stdout, "configuration file")
    assert line.startswith("✗")
    assert "sla.targets.urgnt" in line
    assert f"fix: correct {config}" in line


def test_a_database_not_yet_created_says_to_upgrade(slack: StandIn, tmp_path: Path) -> None:
    result = doctor(slack_env(slack, tmp_path), tmp_path)
    assert result.returncode == 1
    line = finding(result.stdout, "database")
    assert "no database at" in line
    assert "fix: run `baton db upgrade`" in line
    assert not (tmp_path / "baton.db").exists()  # the doctor only looks


def test_no_slack_settings_names_each_with_its_fix(tmp_path: Path) -> None:
    env = clean_env(BATON_DATABASE_URL=f"sqlite:///{tmp_path}/baton.db")
    subprocess.run([BATON, "db", "upgrade"], cwd=tmp_path, env=env, check=True)
    result = doctor(env, tmp_path)
    assert result.returncode == 1
    assert "fix: create the Slack app from the manifest" in finding(result.stdout, "Slack token")
    assert "SLACK_SIGNING_SECRET is not set" in finding(result.stdout, "signing secret")
    assert "Signing Secret" in finding(result.stdout, "signing secret")


def test_a_private_callback_url_is_named_with_its_fix(slack: StandIn, tmp_path: Path) -> None:
    env = slack_env(slack, tmp_path)
    install(env, tmp_path)  # registered while private callbacks were allowed
    result = doctor({**env, "BATON_ALLOW_PRIVATE_CALLBACKS": "false"}, tmp_path)
    assert result.returncode == 1
    line = finding(result.stdout, "platform acme")
    assert "127.0.0.1 is a loopback address" in line
    assert "BATON_ALLOW_PRIVATE_CALLBACKS=true" in line


def test_a_lost_key_file_is_named(slack: StandIn, tmp_path: Path) -> None:
    env = slack_env(slack, tmp_path)
    install(env, tmp_path)
    (tmp_path / "baton.db.key").unlink()
    line = finding(doctor(env, tmp_path).stdout, "secret key")
    assert "baton.db.key is missing" in line
    assert "fix: restore" in line


def test_an_unreadable_setting_is_named(tmp_path: Path) -> None:
    env = clean_env(BATON_ALLOW_PRIVATE_CALLBACKS="maybe")
    result = doctor(env, tmp_path)
    assert result.returncode == 1
    line = finding(result.stdout, "settings")
    assert "BATON_ALLOW_PRIVATE_CALLBACKS: Input should be a valid boolean" in line
    assert "fix: correct the environment variables named above" in line


def _notifications_config(tmp_path: Path, smtp: SmtpTestServer, ca_file: Path) -> Path:
    config = tmp_path / "baton.toml"
    config.write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nusername = "baton"\n'
        f'from = "Baton <baton@acme.example>"\nca_file = "{ca_file}"\ntimeout = "5s"\n'
        '[[notifications]]\nkind = "email"\nto = ["leads@acme.example"]\n'
        'events = ["sla.breached"]\n'
        '[[notifications]]\nkind = "slack"\nchannel = "C0LEADS"\nevents = ["sla.breached"]\n'
    )
    return config


def test_the_smtp_login_and_the_notification_channels_are_checked(
    slack: StandIn, tmp_path: Path
) -> None:
    certificate = make_certificate(tmp_path)
    with SmtpTestServer(certificate, username="baton", password=SMTP_PASSWORD) as smtp:
        config = _notifications_config(tmp_path, smtp, certificate.ca_file)
        env = slack_env(slack, tmp_path, BATON_CONFIG=str(config))
        install(env, tmp_path)
        good = doctor({**env, "BATON_SMTP_PASSWORD": SMTP_PASSWORD}, tmp_path)
        bad = doctor({**env, "BATON_SMTP_PASSWORD": WRONG_SMTP_PASSWORD}, tmp_path)
    assert finding(good.stdout, "SMTP").startswith("✓")
    assert "as baton" in finding(good.stdout, "SMTP")
    line = finding(bad.stdout, "SMTP")
    assert line.startswith("✗") and "BATON_SMTP_PASSWORD" in line
    assert WRONG_SMTP_PASSWORD not in bad.stdout + bad.stderr
    # The bot is not in the notification's channel: named, with its fix.
    channel = finding(good.stdout, "channel C0LEADS")
    assert channel.startswith("✗") and "notifications[1]" in channel
    assert good.returncode == 1
