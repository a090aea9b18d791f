"""One attempt at a signed webhook: what the platform relay and webhook notifications share.

Signed per Standard Webhooks with the same ``webhook-id`` on every attempt. The URL's
resolved address is checked on every attempt and the request goes to exactly the address
checked, without following redirects. The outcome says whether to retry, and when.
"""

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from api.relay.callback_urls import Resolver, UnsafeCallbackUrl, pinned

USER_AGENT = "Baton-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    error: str | None = None
    gone: bool = False  # 410: the receiver says never again
    retry_after: timedelta | None = None


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - now)


def client(timeout: httpx.Timeout, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    """A client for webhooks: no redirects, no proxy or credentials from the environment."""
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        transport=transport,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )


async def deliver(
    http: httpx.AsyncClient,
    url: str,
    signer: Webhook,
    message_id: str,
    body: Mapping[str, Any],
    *,
    allow_private: bool,
    resolver: Resolver,
    now: datetime,
) -> Outcome:
    """POST ``body`` to ``url``, signed; never raises for what the network or the receiver
    does."""
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    sent_at = datetime.fromtimestamp(time.time(), UTC)
    try:
        target = await pinned(url, allow_private=allow_private, resolver=resolver)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signer.sign(message_id, sent_at, content),
            "host": target.host,
        }
        response = await http.post(
            target.url, content=content.encode(), headers=headers, extensions=target.extensions
        )
    except UnsafeCallbackUrl as exc:
        return Outcome(False, f"address refused: {exc}")
    except httpx.TimeoutException as exc:
        return Outcome(False, f"timed out ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return Outcome(False, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return Outcome(True)
    wait = retry_after(response.headers.get("retry-after"), now)
    return Outcome(
        False, f"HTTP {response.status_code}", gone=response.status_code == 410, retry_after=wait
    )
