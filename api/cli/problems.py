"""What the command line says when it cannot do what was asked: one line and an exit status,
never a traceback. Status 2: a setting, the database or a value given must change; status
1: what was asked was tried, and failed."""

import os

from pydantic import ValidationError

from api.config import ConfigError
from api.logs import UnknownLevel
from api.settings import DEFAULT_DATABASE_URL
from storage.database import DATABASE_ERRORS, cause, unavailable, without_password
from storage.errors import StorageError
from storage.sealing import SealError

USAGE = 2
FAILED = 1
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY")
_FIXES = {
    "bool_parsing": "use true or false",
    "url_parsing": "use a full URL such as https://baton.example.com",
    "url_scheme": "use a full URL such as https://baton.example.com",
}


class Problem(Exception):
    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def explain(exc: BaseException) -> Problem | None:
    """The one line for an error a person can fix; None for anything else (a bug, whose
    traceback is what a report of it needs)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return _setting(exc)
    if isinstance(exc, UnknownLevel):
        return Problem(f"BATON_LOG_LEVEL: {exc}")
    if isinstance(exc, ConfigError):
        return Problem(f"the configuration file (BATON_CONFIG) {exc}")
    if isinstance(exc, SealError):
        return Problem(f"{_key_source()}: {exc}")
    if isinstance(exc, StorageError):
        return Problem(str(exc))
    if isinstance(exc, DATABASE_ERRORS) and not _a_file(exc):
        url = os.environ.get("BATON_DATABASE_URL") or DEFAULT_DATABASE_URL
        return database_problem(url, exc)
    if isinstance(exc, OSError) and exc.filename:
        return Problem(f"cannot use {exc.filename}: {exc.strerror or exc}")
    return None


def database_problem(url: str, exc: BaseException) -> Problem:
    shown, said = without_password(url), " ".join(str(cause(exc)).split())
    if unavailable(exc):
        return Problem(
            f"cannot reach the database at {shown}: {said}; check BATON_DATABASE_URL, and that "
            "the server runs and accepts this user"
        )
    return Problem(
        f"the database at {shown} refused: {said}; check BATON_DATABASE_URL (`baton db "
        "upgrade` brings Baton's schema up to date)"
    )


def is_usage_error(exc: BaseException) -> bool:
    """click's ClickException, or the same class of the copy of click that newer typer
    versions carry (``typer._click``): told apart by what they have, not by their class."""
    return callable(getattr(exc, "format_message", None)) and hasattr(exc, "exit_code")


def usage_problem(exc: Exception) -> Problem:
    """A bad command-line value, with where to read how the command is used."""
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message += f" (see `{ctx.command_path} --help`)"
    return Problem(message, exc.exit_code)  # type: ignore[attr-defined]


def _setting(exc: ValidationError) -> Problem:
    first, *others = exc.errors()
    name = ".".join(str(part) for part in first["loc"])
    given = "" if any(w in name for w in _SECRET_WORDS) else f"={first['input']!r}"
    fix = _FIXES.get(first["type"], "correct it, or unset it for the default")
    more = f" (and {len(others)} more)" if others else ""
    return Problem(f"{name}{given}: {first['msg']}; {fix}{more}")


def _key_source() -> str:
    if os.environ.get("BATON_SECRET_KEY"):
        return "BATON_SECRET_KEY"
    return "the secret key (BATON_SECRET_KEY, or the key file beside the SQLite database)"


def _a_file(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.filename is not None
