"""The session's secret scan (tests/secret_scan.py) can fail: it finds every kind of secret
planted in a record or a log file, shows none of it, and fails a run whose tests all pass."""

import logging
import os
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.logs import RedactingFilter
from tests.bot.conftest import SIGNING_SECRET
from tests.conftest import TEST_SECRET_KEY
from tests.secret_scan import TEST_SECRETS, CaptureHandler, Scanned, SecretScanner, scan_files

ROOT = Path(__file__).resolve().parent.parent
# Assembled here, so that this file's own text is all a search for them would find.
KEY = "btn_" + "Zq3" * 14
PLANTED = {
    "API key": [KEY, "btn_wrongwrong"],
    "webhook secret": ["whsec_" + "c2VjcmV0" * 4],
    "Slack token": [
        "xoxb-1111-2222-" + "a1" * 12,
        "xapp-1-A0-" + "9z" * 10,
        "xoxc-1111-2222-3333-" + "c3" * 16,
        "xoxd-" + "d4%2F" * 6 + "%3D",
        "xoxe.xoxp-1-" + "Mi0y" * 8,
        "xwfp-1111-2222-" + "w5" * 10,
    ],
    "bearer credential": ["Bearer " + "abc.def-" * 3],
    "secret value": [SIGNING_SECRET, TEST_SECRET_KEY],
}
EVERY_SECRET = [secret for secrets in PLANTED.values() for secret in secrets]


def _planted_text() -> str:
    return "\n".join(f"planted {n} is {secret}, told" for n, secret in enumerate(EVERY_SECRET))


@pytest.fixture
def elsewhere() -> Iterator[Path]:
    """A folder outside the session's temporary directory: the scan of this session reads
    that one, and must not find the secrets planted here."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("baton.slack", logging.ERROR, __file__, 1, message, args, exc_info)


def test_every_kind_of_secret_is_found_and_shown_masked() -> None:
    finds = SecretScanner(TEST_SECRETS).scan(_planted_text(), "planted")
    assert Counter(f.kind for f in finds) == {k: len(v) for k, v in PLANTED.items()}
    assert {f.where for f in finds} == {"planted"}
    shown = "\n".join(f.excerpt for f in finds)
    assert not [secret for secret in EVERY_SECRET if secret[-8:] in shown]  # not even the end
    assert "planted 0 is <API key>, told" in shown


def test_redacted_text_and_talk_about_secrets_are_not_secrets() -> None:
    redacted = RedactingFilter(TEST_SECRETS).scrub(_planted_text())
    assert not [secret for secret in EVERY_SECRET if secret[-8:] in redacted]  # masked whole
    talk = [
        "send the platform's API key as 'Authorization: Bearer <key>'",
        "copy the Bot User OAuth Token (xoxb-…), not a user (xoxp-) or app-level (xapp-) one",
        "a browser's token (xoxc-) and its d cookie (xoxd-) are not a bot's; nor is xoxe.xoxp-…",
        "keys start with btn_ and secrets with whsec_; this one is Bearer [redacted]",
    ]
    assert SecretScanner(TEST_SECRETS).scan("\n".join([redacted, *talk]), "clean") == []


def test_a_record_is_scanned_as_baton_writes_it_and_left_as_logged() -> None:
    tally = Scanned()
    handler = CaptureHandler(SecretScanner(TEST_SECRETS), RedactingFilter(TEST_SECRETS), tally)
    try:
        raise RuntimeError(f"Slack refused {SIGNING_SECRET}")
    except RuntimeError as exc:
        record = _record("key %s refused", KEY, exc=exc)
    handler.handle(record)
    assert tally.records == 1
    assert tally.finds == []  # Baton's filter masks both before its handlers write them
    assert KEY in record.getMessage()  # pytest's handlers and caplog see what was logged


def test_a_secret_the_redaction_misses_is_found_with_where_it_was_logged() -> None:
    tally = Scanned()
    handler = CaptureHandler(SecretScanner(TEST_SECRETS), RedactingFilter(), tally)
    handler.during = "tests/x.py::test_y"
    try:
        raise RuntimeError(f"Slack refused {SIGNING_SECRET}")
    except RuntimeError as exc:
        handler.handle(_record("signing with %s", SIGNING_SECRET, exc=exc))
    assert [f.kind for f in tally.finds] == ["secret value", "secret value"]  # message, traceback
    assert tally.finds[0].where == "a ERROR record of baton.slack during tests/x.py::test_y"
    assert "baton.slack: signing with <secret value>" in tally.finds[0].excerpt
    assert SIGNING_SECRET not in "".join(f.excerpt for f in tally.finds)


def test_log_files_are_scanned_line_by_line_without_following_links(elsewhere: Path) -> None:
    (elsewhere / "session" / "serve-1").mkdir(parents=True)
    log = elsewhere / "session" / "serve-1" / "serve.log"
    log.write_text(f"INFO baton: started\nWARNING baton.api: refused {KEY}\n")
    (elsewhere / "venv").mkdir()
    (elsewhere / "venv" / "pip.log").write_text(f"not ours: {KEY}\n")
    (elsewhere / "session" / ".venv").symlink_to(elsewhere / "venv", target_is_directory=True)
    tally = Scanned()
    scan_files(SecretScanner(TEST_SECRETS), elsewhere / "session", tally)
    assert [(f.where, f.kind) for f in tally.finds] == [(f"{log}:2", "API key")]
    assert tally.files == 1


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two workers"])
def test_a_run_whose_tests_pass_fails_when_a_log_holds_a_secret(
    elsewhere: Path, workers: list[str]
) -> None:
    (elsewhere / "test_leak.py").write_text(
        textwrap.dedent(
            """
            def test_a_server_that_logs_its_key(tmp_path):
                (tmp_path / "serve.log").write_text("WARNING refused btn_" + "Zq3" * 14 + "\\n")
            """
        )
    )
    plugins = ["-p", "tests.secret_scan", "-p", "no:cacheprovider", "-p", "no:randomly"]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *plugins,
            f"--basetemp={elsewhere / 'tmp'}",
            *workers,
            "test_leak.py",
        ],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    assert "secret scan: secrets in the logs" in run.stdout
    assert "API key in " in run.stdout and "serve.log:1: …WARNING refused <API key>…" in run.stdout
    assert KEY not in run.stdout + run.stderr
