"""What the Slack side needs to know, built once by the app from the settings."""

from dataclasses import dataclass

from bot.routing import Router


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
