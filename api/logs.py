"""Logging that cannot leak a secret: every record is scrubbed before it is written."""

import logging
import re
from collections.abc import Iterable

_PATTERNS = re.compile(
    r"(btn_[A-Za-z0-9_\-]{6,}"
    r"|whsec_[A-Za-z0-9+/=]{8,}"
    # Every xox?- kind (bot, user, app, refresh, session, browser xoxc and its xoxd cookie),
    # rotating ones (xoxe.xoxp-, xoxe.xoxb-) whole, and xoxd's URL-encoded or base64 tail.
    r"|xox[a-z](?:\.xox[a-z])?-[A-Za-z0-9%+/=\-]+"
    r"|x(?:app|wfp)-[A-Za-z0-9\-]+"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]+)"
)
MASK = "[redacted]"


class RedactingFilter(logging.Filter):
    """Masks API keys, webhook secrets, Slack tokens, bearer headers and known literals."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        super().__init__()
        self.literals = [s for s in literals if s and len(s) >= 6]

    def scrub(self, text: str) -> str:
        for literal in self.literals:
            text = text.replace(literal, MASK)
        return _PATTERNS.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # Arguments that do not fit the format: logging would print them unscrubbed to
            # stderr, and raising here would crash the caller; keep both, scrubbed, instead.
            message = f"{record.msg} (arguments that did not fit: {record.args!r})"
        scrubbed = self.scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        if scrubbed != message or record.args:
            record.msg, record.args = scrubbed, None
        return True


def install_redaction(literals: Iterable[str] = ()) -> RedactingFilter:
    """Attach the filter to every handler of the root logger (and future ones via root)."""
    redactor = RedactingFilter(literals)
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redactor)
    return redactor


LEVELS = ("debug", "info", "warning", "error", "critical")
# Libraries that say at INFO what Baton says better itself (every scheduler run, every
# migration step, every request); they speak at WARNING unless Baton's level is debug.
LIBRARIES = (
    "aiosqlite",
    "alembic",
    "apscheduler",
    "asyncio",
    "httpcore",
    "httpx",
    "slack_bolt",
    "slack_sdk",
    "sqlalchemy",
    "uvicorn.access",
)


class UnknownLevel(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name!r} is not a log level: use one of {', '.join(LEVELS)}")


def level_named(name: str) -> int:
    """The logging level for ``debug``, ``INFO``…; UnknownLevel for any other name."""
    if name.lower() not in LEVELS:
        raise UnknownLevel(name)
    return logging.getLevelNamesMapping()[name.upper()]


def configure_logging(level: str, literals: Iterable[str] = ()) -> None:
    number = level_named(level)
    logging.basicConfig(level=number, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for library in LIBRARIES:
        logging.getLogger(library).setLevel(
            logging.NOTSET if number <= logging.DEBUG else logging.WARNING
        )
    install_redaction(literals)
