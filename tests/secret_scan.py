"""Proof that no secret reaches a log: everything logged during the test session, and every
log file the suite's processes wrote, is scanned at the end for API keys, webhook secrets,
Slack tokens, bearer credentials and the secret values the tests hand to Baton. A find fails
the run, naming where it was and showing it masked.

In-process records are scanned as Baton's own handlers would write them: at DEBUG, in its
format, through its ``RedactingFilter`` holding the secrets its settings hold (what
``configure_logging`` installs on every handler). The filter scrubs a copy, so pytest's own
handlers (and ``caplog``) still see each record as it was logged. ``baton`` processes write
their logs through the real thing; those files are scanned as written.
"""

import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from api.logs import RedactingFilter
from tests.bot.conftest import SIGNING_SECRET
from tests.conftest import SMTP_PASSWORD, TEST_SECRET_KEY, WRONG_SMTP_PASSWORD

# Written independently of api/logs.py's patterns on purpose: this is what checks them.
SHAPES = {
    "API key": r"btn_[A-Za-z0-9_\-]{4,}",
    "webhook secret": r"whsec_[A-Za-z0-9+/=]{4,}",
    # Any xox?- kind, rotating ones (xoxe.xoxp-) and xoxd's URL-encoded or base64 cookie whole.
    "Slack token": r"xox[a-z](?:\.xox[a-z])?-[A-Za-z0-9%+/=\-]+|x(?:app|wfp)-[A-Za-z0-9\-]+",
    "bearer credential": r"(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{4,}",
}
# The secret values the suite's settings hold besides tokens (which have shapes above).
TEST_SECRETS = (TEST_SECRET_KEY, SIGNING_SECRET, SMTP_PASSWORD, WRONG_SMTP_PASSWORD)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # as configure_logging's
CONTEXT = 40
BASETEMP = pytest.StashKey[Path]()


@dataclass(frozen=True)
class Find:
    where: str
    kind: str
    excerpt: str  # with every secret in it masked


class SecretScanner:
    """Finds secret-shaped text and the given secret values."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        shapes = dict(SHAPES)
        values = [re.escape(s) for s in literals if s]
        if values:
            shapes["secret value"] = "|".join(values)
        self._kinds = list(shapes)
        self._pattern = re.compile(
            "|".join(f"(?P<k{i}>{p})" for i, p in enumerate(shapes.values()))
        )

    def scan(self, text: str, where: str) -> list[Find]:
        return [
            Find(where, self._kind(hit), self._excerpt(text, hit))
            for hit in self._pattern.finditer(text)
        ]

    def _kind(self, hit: re.Match[str]) -> str:
        return self._kinds[int(str(hit.lastgroup)[1:])]

    def _masked(self, text: str) -> str:
        return self._pattern.sub(lambda hit: f"<{self._kind(hit)}>", text)

    def _excerpt(self, text: str, hit: re.Match[str]) -> str:
        """The find in its context, every secret masked before the context is cut."""
        before = self._masked(text[: hit.start()])[-CONTEXT:]
        after = self._masked(text[hit.end() :])[:CONTEXT]
        return " ".join(f"{before}<{self._kind(hit)}>{after}".split())


@dataclass
class Scanned:
    records: int = 0
    files: int = 0
    bytes: int = 0
    finds: list[Find] = field(default_factory=list)

    def add(self, other: dict[str, Any]) -> None:
        """A pytest-xdist worker's tally, as ``asdict`` sent it."""
        self.records += other["records"]
        self.files += other["files"]
        self.bytes += other["bytes"]
        self.finds += [Find(**find) for find in other["finds"]]


class CaptureHandler(logging.Handler):
    """Every record, formatted as Baton's handlers would write it, scanned as it comes."""

    def __init__(self, scanner: SecretScanner, redactor: RedactingFilter, tally: Scanned) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.scanner, self.redactor, self.tally = scanner, redactor, tally
        self.during = "the set-up of the session"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            shadow = logging.makeLogRecord(record.__dict__)
            self.redactor.filter(shadow)
            text = self.format(shadow)
        except Exception:  # a broken logging call: reported by logging as usual
            self.handleError(record)
            return
        self.tally.records += 1
        self.tally.bytes += len(text.encode())
        where = f"a {record.levelname} record of {record.name} during {self.during}"
        self.tally.finds += self.scanner.scan(text, where)


def log_files(root: Path) -> Iterator[Path]:
    """Every ``*.log`` under ``root``, not following links (a test links the venv in)."""
    for folder, _, names in os.walk(root):
        yield from (Path(folder, n) for n in sorted(names) if n.endswith(".log"))


def scan_files(scanner: SecretScanner, root: Path, tally: Scanned) -> None:
    for path in log_files(root):
        text = path.read_text(errors="replace")
        tally.files += 1
        tally.bytes += len(text.encode())
        for number, line in enumerate(text.splitlines(), 1):
            tally.finds += scanner.scan(line, f"{path}:{number}")


class SecretScan:
    """The plugin: captures from session start, scans the files and reports at the end."""

    def __init__(self) -> None:
        self.tally = Scanned()
        self.scanner = SecretScanner(TEST_SECRETS)
        self.handler = CaptureHandler(self.scanner, RedactingFilter(TEST_SECRETS), self.tally)
        self.root_level = logging.WARNING

    def start(self) -> None:
        root = logging.getLogger()
        self.root_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self.handler)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.handler.during = nodeid

    @pytest.hookimpl(tryfirst=True)  # before pytest may clean its temporary directories up
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self.root_level)
        basetemp = session.config.stash.get(BASETEMP, None)
        if basetemp is not None:
            scan_files(self.scanner, basetemp, self.tally)
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # a pytest-xdist worker: the controller reports
            workeroutput["secret_scan"] = asdict(self.tally)
            return
        if self.tally.finds and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A pytest-xdist worker is done: its tally joins the controller's."""
        found = getattr(node, "workeroutput", {}).get("secret_scan")
        if found is not None:
            self.tally.add(found)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        tally = self.tally
        scanned = f"{tally.records} log records, {tally.files} log files, {tally.bytes} bytes"
        if not tally.finds:
            terminalreporter.write_line(f"secret scan: nothing secret in {scanned}")
            return
        terminalreporter.write_sep("=", "secret scan: secrets in the logs", red=True)
        for find in tally.finds[:50]:
            terminalreporter.write_line(f"{find.kind} in {find.where}: …{find.excerpt}…")
        terminalreporter.write_line(f"{len(tally.finds)} found in {scanned}", red=True)


def pytest_configure(config: pytest.Config) -> None:
    if not (config.getoption("log_level") or config.getini("log_level")):
        # The scan lowers the root logger to DEBUG: pytest's reports keep the level they had.
        config.option.log_level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    scan = SecretScan()
    # Before pytest's logging plugin starts, which restores the root level it finds.
    scan.start()
    config.pluginmanager.register(scan, "secret-scan")


@pytest.fixture(scope="session", autouse=True)
def _temporary_files(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Where the suite's processes write their logs: the session's temporary directory."""
    request.config.stash[BASETEMP] = tmp_path_factory.getbasetemp()
