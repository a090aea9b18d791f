"""``[[notifications]]`` and ``[smtp]`` in the configuration file: checked at start-up.

Each entry becomes a ``storage.notifications.Subscription`` (what it wants to hear of) and
stays the delivery workers' description of where it goes. An entry's key is derived from
where it sends, so every replica names it alike and a change of its filters keeps the
notifications already queued for it deliverable.
"""

import base64
import binascii
import hashlib
import os
import re
from abc import ABC, abstractmethod
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from api.durations import Duration
from api.relay.callback_urls import UnsafeCallbackUrl, parse_target
from api.relay.smtp import SmtpServer
from storage.models import Priority
from storage.notifications import EVENTS, Subscription, Via

EventName = Literal[
    "escalation.created",
    "escalation.taken",
    "escalation.returned",
    "escalation.closed",
    "sla.at_risk",
    "sla.breached",
]
assert set(EventName.__args__) == set(EVENTS)  # type: ignore[attr-defined]

_MENTION = re.compile(r"^(here|channel|S[A-Z0-9]{2,}|[UW][A-Z0-9]{2,})$")
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class _Entry(BaseModel, ABC):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str  # each kind narrows it to its name
    events: list[EventName] = Field(min_length=1)
    # As in [[routing]]: any of the listed values; left out, any. An empty list is refused.
    priority: list[Priority] | None = Field(None, min_length=1)
    platform: list[str] | None = Field(None, min_length=1)

    @property
    def key(self) -> str:
        """The entry's name in outbox rows: its kind and a digest of where it sends."""
        digest = hashlib.sha256(self._destination().encode()).hexdigest()[:12]
        return f"{self.kind}-{digest}"

    @abstractmethod
    def _destination(self) -> str:
        """Where the entry sends, as one string."""

    def _hourly(self) -> bool:
        return False

    def subscription(self) -> Subscription:
        return Subscription(
            key=self.key,
            via=Via(self.kind),
            events=frozenset(self.events),
            priority=None if self.priority is None else frozenset(map(str, self.priority)),
            platform=None if self.platform is None else frozenset(self.platform),
            hourly=self._hourly(),
        )


def _address(value: str) -> str:
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    broken = any(c.isspace() for c in address) or "\r" in value or "\n" in value
    if broken or not at or not local or "." not in domain:
        raise ValueError(f"{value!r} is not an email address")
    return value


class EmailEntry(_Entry):
    kind: Literal["email"]
    to: list[str] = Field(min_length=1)
    include_transcript: bool = False
    batch: Literal["immediate", "hourly"] = "immediate"

    @field_validator("to")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        return [_address(v) for v in values]

    def _destination(self) -> str:
        return "|".join([*sorted(self.to), self.batch])

    def _hourly(self) -> bool:
        return self.batch == "hourly"


class WebhookEntry(_Entry):
    kind: Literal["webhook"]
    url: str
    secret: SecretStr | None = None  # "whsec_…"
    secret_env: str | None = None  # or the environment variable that holds it

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        try:
            parse_target(url)
        except UnsafeCallbackUrl as exc:
            raise ValueError(str(exc)) from None
        return url

    @model_validator(mode="after")
    def _one_secret(self) -> "WebhookEntry":
        if (self.secret is None) == (self.secret_env is None):
            raise ValueError("give either secret or secret_env (the variable holding it)")
        self.signing_secret()  # refused now rather than at the first delivery
        return self

    def signing_secret(self) -> str:
        if self.secret is not None:
            value, where = self.secret.get_secret_value(), "secret"
        else:
            assert self.secret_env is not None
            value, where = os.environ.get(self.secret_env, ""), f"${self.secret_env}"
            if not value:
                raise ValueError(f"secret_env: {self.secret_env} is not set")
        if not _is_webhook_secret(value):
            raise ValueError(
                f"{where} is not a webhook secret: whsec_ and 24 to 64 bytes in base64"
            )
        return value

    def _destination(self) -> str:
        return self.url


def _is_webhook_secret(value: str) -> bool:
    """Standard Webhooks' form: ``whsec_`` and 24 to 64 random bytes in base64."""
    if not value.startswith("whsec_"):
        return False
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        return False
    return 24 <= len(key) <= 64


class SlackEntry(_Entry):
    kind: Literal["slack"]
    channel: str | None = None  # a post in this channel; without it, in the card's thread
    mention: str | None = None  # "here", "channel", a user group S…, a user U…

    @field_validator("channel")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL.match(value):
            raise ValueError(f"{value!r} is not a channel id such as C0LEADS")
        return value

    @field_validator("mention")
    @classmethod
    def _mention(cls, value: str | None) -> str | None:
        if value is not None and not _MENTION.match(value):
            raise ValueError(
                f"{value!r}: use 'here', 'channel', a user group id (S…) or a user id (U…)"
            )
        return value

    @model_validator(mode="after")
    def _somewhere(self) -> "SlackEntry":
        if self.channel is None and self.mention is None:
            raise ValueError("give a channel, a mention (in the card's thread), or both")
        return self

    def mention_text(self) -> str:
        """The mention as Slack writes it, or ''."""
        match self.mention:
            case None:
                return ""
            case "here" | "channel":
                return f"<!{self.mention}>"
            case group if group.startswith("S"):
                return f"<!subteam^{group}>"
            case user:
                return f"<@{user}>"

    def _destination(self) -> str:
        return f"{self.channel or 'thread'}|{self.mention or ''}"


NotificationEntry = Annotated[EmailEntry | WebhookEntry | SlackEntry, Field(discriminator="kind")]
KINDS = ("email", "webhook", "slack")


class SmtpSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool | None = None  # left out: yes, unless tls
    tls: bool = False  # implicit TLS, usually on port 465
    username: str | None = None  # the password comes from BATON_SMTP_PASSWORD
    sender: str = Field(alias="from")
    timeout: Duration = timedelta(seconds=30)
    ca_file: Path | None = None  # to trust an internal CA

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @model_validator(mode="after")
    def _one_tls(self) -> "SmtpSection":
        if self.tls and self.starttls:
            raise ValueError("tls (implicit, port 465) and starttls exclude each other")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file: {self.ca_file} is not a file")
        return self

    def server(self, password: SecretStr | None) -> SmtpServer:
        """The server as the notifier uses it, with ``BATON_SMTP_PASSWORD``."""
        return SmtpServer(
            host=self.host,
            port=self.port,
            starttls=not self.tls if self.starttls is None else self.starttls,
            tls=self.tls,
            username=self.username,
            password=None if password is None else password.get_secret_value(),
            sender=self.sender,
            timeout=self.timeout.total_seconds(),
            ca_file=None if self.ca_file is None else str(self.ca_file),
        )


def check_entries(entries: list[Any], smtp: SmtpSection | None) -> None:
    """What no single entry can say about itself: email needs ``[smtp]``, and two entries
    may not send to the same place (merge their events instead)."""
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if isinstance(entry, EmailEntry) and smtp is None:
            raise ValueError(f"notifications[{i}]: an email notification needs an [smtp] section")
        first = seen.setdefault(entry.key, i)
        if first != i:
            raise ValueError(
                f"notifications[{i}] sends where notifications[{first}] does: "
                "merge them into one entry"
            )
