"""What the Slack side needs to know, built once by the app from the settings."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.routing import Router


@dataclass(frozen=True)
class SlackNotice:
    """A [[notifications]] entry of kind slack: a post in ``channel`` (None: in the card's
    thread), opening with ``mention`` (Slack's markup, e.g. ``<!here>``; '' for none)."""

    channel: str | None
    mention: str


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str
    signing_secret: str
    router: Router
    api_url: str  # Slack's Web API, or a stand-in
    app_token: str | None = None  # Socket Mode instead of the HTTP request URL
    # Slack allows about one chat.postMessage per second per channel; each post to a channel
    # leaves this long after Slack answered the one before (bot/pacing.py).
    post_interval: float = 1.0
    managers_channel: str | None = None
    oncall_group: str | None = None
    max_file_bytes: int = 25 * 1024**2  # the largest file sent to the customer
    notices: Mapping[str, SlackNotice] = field(default_factory=dict)  # by entry key
