"""slack_sdk's async Web API client, pointed at Slack or at a stand-in."""

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackConfig

WORKER_TIMEOUT = 10
LOOKUP_TIMEOUT = 5


def listener_client(config: SlackConfig) -> AsyncWebClient:
    """For listeners: ephemerals and modals, which may simply be retried."""
    handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(),
        AsyncRateLimitErrorRetryHandler(max_retry_count=1),
    ]
    return AsyncWebClient(token=config.bot_token, base_url=config.api_url, retry_handlers=handlers)


def worker_client(config: SlackConfig) -> AsyncWebClient:
    """For the delivery worker, which decides every retry itself: a post retried blindly
    after a dropped connection could post a card twice."""
    return AsyncWebClient(
        token=config.bot_token,
        base_url=config.api_url,
        timeout=WORKER_TIMEOUT,
        retry_handlers=[],
    )


def people_client(config: SlackConfig) -> AsyncWebClient:
    """For looking people up (``bot.people``), which a platform's request may be waiting
    on: a short timeout; rate limits are waited out, or not, by the caller."""
    return AsyncWebClient(
        token=config.bot_token,
        base_url=config.api_url,
        timeout=LOOKUP_TIMEOUT,
        retry_handlers=[AsyncConnectionErrorRetryHandler()],
    )
