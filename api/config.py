"""The ``BATON_CONFIG`` TOML file: parsed and checked once, at start-up.

Every section is optional. An unknown key, a bad value or a broken template stops start-up
with a message naming the key, e.g. ``sla.targets.urgnt: unknown priority``.
"""

import datetime as dt
import logging
import re
import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from api.durations import Duration, parse_duration
from api.notification_config import (
    KINDS as NOTIFICATION_KINDS,
)
from api.notification_config import (
    NotificationEntry,
    SmtpSection,
    WebhookEntry,
    check_entries,
)
from blocks.email import EmailTemplates
from blocks.texts import KINDS, CustomerTexts, TemplateKey, TemplateProblem
from storage.file_links import DEFAULT_TTL
from storage.machine import DEFAULT_EDIT_WINDOW
from storage.models import Priority, Reason
from storage.notifications import Subscription
from storage.sla import WEEKDAYS, SlaPolicy, TargetTimes, business_hours

log = logging.getLogger("baton.config")


class ConfigError(ValueError):
    """A problem in the configuration file; the message names the key."""


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")


def parse_rate(value: Any) -> float:
    """``"50/s"`` → 50.0 requests per second; ``"0"`` turns the limit off (0.0)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a rate cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError('a rate is a string such as "50/s"')
    if value.strip() == "0":
        return 0.0
    match = _RATE.match(value)
    if match is None:
        raise ValueError(f'{value!r} is not a rate such as "50/s" or "3000/m" ("0" = off)')
    return float(match.group(1)) / {"s": 1, "m": 60, "h": 3600}[match.group(2)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSection(_Section):
    rate_limit: Annotated[float, BeforeValidator(parse_rate)] = 50.0
    default_priority: Priority = Priority.medium  # of an escalation created without one


class DatabaseSection(_Section):
    pool_size: int = Field(10, ge=1)
    max_overflow: int = Field(30, ge=0)
    connect_timeout: Duration = timedelta(seconds=10)


class SlackSection(_Section):
    escalation_channel: str | None = None
    managers_channel: str | None = None
    oncall_group: str | None = None


class RoutingRule(_Section):
    """First matching rule picks the card's channel; a key left out matches everything."""

    # An empty list would match nothing, silently: it is refused.
    priority: list[Priority] | None = Field(None, min_length=1)
    customer_channel: list[str] | None = Field(None, min_length=1)
    platform: list[str] | None = Field(None, min_length=1)
    reason: list[Reason] | None = Field(None, min_length=1)
    slack_channel: str = Field(min_length=1)


class BusinessHours(_Section):
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    open: time = time(9, 0)
    close: time = time(18, 0)

    @field_validator("days")
    @classmethod
    def _known_days(cls, days: list[str]) -> list[str]:
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown day(s) {unknown}; use {list(WEEKDAYS)}")
        return days

    @model_validator(mode="after")
    def _open_before_close(self) -> "BusinessHours":
        if self.open >= self.close:
            raise ValueError(f"open ({self.open:%H:%M}) must be before close ({self.close:%H:%M})")
        return self


class SlaTarget(_Section):
    first_take: Duration | None = None
    resolution: Duration | None = None


class SlaSection(_Section):
    timezone: str = "UTC"
    at_risk: list[float] = Field(default_factory=lambda: [0.8], min_length=1)
    business_hours: BusinessHours | None = None
    holidays: list[date] = Field(default_factory=list)
    targets: dict[Priority, SlaTarget] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {name!r} (use an IANA name)") from exc
        return name

    @field_validator("at_risk")
    @classmethod
    def _fractions(cls, values: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in values):
            raise ValueError("each at-risk threshold is a fraction between 0 and 1, e.g. 0.8")
        return sorted(set(values))


def _off_or_duration(value: Any) -> timedelta | None:
    return None if value == "off" else parse_duration(value)


class SchedulerSection(_Section):
    sla_sweep: Duration = timedelta(seconds=15)
    # "off": owners are never nudged
    inactivity_nudge: Annotated[timedelta | None, BeforeValidator(_off_or_duration)] = timedelta(
        minutes=10
    )


class RelaySection(_Section):
    # how long after sending an owner's edit or deletion in Slack still reaches the customer
    edit_window: Duration = DEFAULT_EDIT_WINDOW


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}
_SIZE_UNITS |= {"gb": 1000**3, "gib": 1024**3}


def parse_size(value: Any) -> int:
    """A number of bytes: an integer, or a string such as ``"500KB"`` or ``"25MiB"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        size = int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])
    else:
        raise ValueError(f'{value!r} is not a size such as 26214400, "500KB" or "25MiB"')
    if size <= 0:
        raise ValueError("a size must be more than zero bytes")
    return size


class FilesSection(_Section):
    # the largest file relayed either way; larger ones are shown as links (or refused)
    max_bytes: Annotated[int, BeforeValidator(parse_size)] = 25 * 1024**2
    # how long a link to an agent's file works for the customer's side
    url_ttl: Duration = DEFAULT_TTL


class LifecycleSection(_Section):
    # "off", or how long a taken escalation's customer may stay quiet before it is closed
    auto_close_after: Annotated[timedelta | None, BeforeValidator(_off_or_duration)] = None


class DigestSection(_Section):
    time: dt.time = dt.time(9, 0)


class Config(_Section):
    api: ApiSection = ApiSection()
    database: DatabaseSection = DatabaseSection()
    slack: SlackSection = SlackSection()
    routing: list[RoutingRule] = Field(default_factory=list)
    sla: SlaSection = SlaSection()
    scheduler: SchedulerSection = SchedulerSection()
    digest: DigestSection = DigestSection()
    relay: RelaySection = RelaySection()
    files: FilesSection = FilesSection()
    lifecycle: LifecycleSection = LifecycleSection()
    notifications: list[NotificationEntry] = Field(default_factory=list)
    smtp: SmtpSection | None = None
    templates: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _notifications_can_go(self) -> "Config":
        check_entries(self.notifications, self.smtp)
        return self

    def subscriptions(self) -> list[Subscription]:
        return [entry.subscription() for entry in self.notifications]

    def email_templates(self) -> EmailTemplates:
        overrides = self.templates.get(EMAIL_TEMPLATES) or {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"templates.{EMAIL_TEMPLATES}: expected a table")
        return EmailTemplates(overrides)

    def secret_values(self) -> list[str]:
        """The secrets the file holds or names, for logging to mask."""
        secrets = [e.signing_secret() for e in self.notifications if isinstance(e, WebhookEntry)]
        # With and without the prefix: the key is the part after it.
        return [*secrets, *(s.removeprefix("whsec_") for s in secrets)]

    def sla_policy(self) -> SlaPolicy:
        sla = self.sla
        hours = sla.business_hours
        return SlaPolicy(
            targets={
                str(priority): TargetTimes(target.first_take, target.resolution)
                for priority, target in sla.targets.items()
            },
            at_risk=tuple(sla.at_risk),
            hours=None
            if hours is None
            else business_hours(sla.timezone, hours.days, hours.open, hours.close, sla.holidays),
        )

    def customer_texts(self) -> CustomerTexts:
        return CustomerTexts(template_overrides(self.templates))


EMAIL_TEMPLATES = "email"  # [templates.email]: the notification emails' texts
_LOCALE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def template_overrides(raw: dict[str, Any]) -> dict[TemplateKey, dict[str, str]]:
    """Split ``[templates]`` into (platform, locale) → {text: source}, naming any bad key."""
    found: dict[TemplateKey, dict[str, str]] = {}

    def table(where: str, platform: str | None, locale: str | None, value: Any) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table")
        for key, item in value.items():
            here = f"{where}.{key}"
            if key in KINDS:
                if not isinstance(item, str):
                    raise ConfigError(f"{here}: a template is a string")
                found.setdefault(TemplateKey(platform, locale), {})[key] = item
            elif key == "platform" and platform is None and locale is None:
                if not isinstance(item, dict):
                    raise ConfigError(f"{here}: expected a table of platforms")
                for name, sub in item.items():
                    table(f"{here}.{name}", name, None, sub)
            elif locale is None and _LOCALE.match(key.lower()):
                table(here, platform, key.lower(), item)
            else:
                raise ConfigError(
                    f"{here}: unknown key (expected one of {list(KINDS)}, a locale such as "
                    f"'vi', or 'platform')"
                )

    table("templates", None, None, {k: v for k, v in raw.items() if k != EMAIL_TEMPLATES})
    return found


def _where(loc: tuple[int | str, ...]) -> str:
    """A key as the file writes it: ``notifications[2].to`` (a list's index in brackets; the
    kind pydantic adds after an entry's index left out)."""
    where = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            where += f"[{part}]"
        elif part.startswith(("[", "function-")) or _entry_kind(loc, i):
            continue
        else:
            where += f".{part}" if where else part
    return where


def _entry_kind(loc: tuple[int | str, ...], i: int) -> bool:
    return i >= 2 and loc[i - 2] == "notifications" and loc[i] in NOTIFICATION_KINDS


def _describe(error: ErrorDetails) -> str:
    where = _where(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {message}" if where else message


def parse_config(data: dict[str, Any], source: str = "configuration") -> Config:
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None
    try:
        texts = config.customer_texts()
        emails = config.email_templates()
    except (ConfigError, TemplateProblem) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    # Accepted: such escalations (or emails) get the shipped text.
    for warning in [*texts.warnings, *emails.warnings]:
        log.warning("%s: %s", source, warning)
    return config


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path))
