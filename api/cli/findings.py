"""What one check of ``baton doctor`` found, and for a failure, the fix."""

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    ok = "ok"
    failed = "failed"
    skipped = "skipped"


@dataclass(frozen=True)
class Finding:
    check: str
    outcome: Outcome
    detail: str
    fix: str | None = None


def ok(check: str, detail: str) -> Finding:
    return Finding(check, Outcome.ok, detail)


def failed(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, Outcome.failed, detail, fix)


def skipped(check: str, detail: str) -> Finding:
    return Finding(check, Outcome.skipped, detail)
