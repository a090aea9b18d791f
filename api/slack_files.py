"""Agents' files, streamed from Slack to the customer's side as they arrive.

Slack serves a file's ``url_private_download`` to the bot token with ``files:read``. What
it answers otherwise is no file: a redirect to its sign-in page, or the page itself, with a
200. Anything that is not the file is an error here, never passed on as the file. The bot
token is sent only to Slack's file host (or the Web API's own host, a stand-in's), never to
wherever a URL might point.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

SLACK_FILE_HOSTS = frozenset({"files.slack.com"})
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class NotServed(Exception):
    """Slack did not give the file. ``gone``: it no longer has it."""

    def __init__(self, reason: str, *, gone: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.gone = reason, gone


@dataclass(frozen=True)
class Upstream:
    """Slack's answer with the file: its headers checked, its body still to be read."""

    content_type: str
    size: int | None
    body: AsyncIterator[bytes]


class SlackFiles:
    def __init__(
        self, bot_token: str, api_url: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._token = bot_token
        self._hosts = SLACK_FILE_HOSTS | {urlsplit(api_url).hostname or ""}
        self._client = httpx.AsyncClient(
            timeout=TIMEOUT, follow_redirects=True, max_redirects=3, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    @asynccontextmanager
    async def open(
        self, url: str, mime_type: str | None, size: int | None
    ) -> AsyncIterator[Upstream]:
        """Slack's answer for the file at ``url``, which should be ``size`` bytes of
        ``mime_type``; ``NotServed`` if it is anything else."""
        if urlsplit(url).hostname not in self._hosts:
            raise NotServed(f"{urlsplit(url).hostname} is not Slack's file host")
        request = self._client.build_request(
            "GET",
            url,
            headers={"authorization": f"Bearer {self._token}", "accept-encoding": "identity"},
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise NotServed(f"Slack could not be reached ({type(exc).__name__})") from None
        try:
            yield _checked(response, mime_type, size)
        finally:
            await response.aclose()


def _checked(response: httpx.Response, mime_type: str | None, size: int | None) -> Upstream:
    if response.status_code in (404, 410):
        raise NotServed("the file is no longer in Slack", gone=True)
    if response.status_code != 200:
        raise NotServed(f"Slack answered HTTP {response.status_code} for the file")
    content_type = response.headers.get("content-type", "application/octet-stream")
    length = response.headers.get("content-length")
    answered = int(length) if length and length.isdigit() else None
    if _is_page(content_type) and not _is_page(mime_type or ""):
        raise NotServed(
            "Slack answered with a web page instead of the file: the app needs the "
            "files:read scope (reinstall it from manifest.yml), or its token was revoked"
        )
    if size is not None and answered is not None and answered != size:
        raise NotServed(f"Slack offered {answered} bytes for a file of {size}")
    return Upstream(content_type, answered if answered is not None else size, response.aiter_raw())


def _is_page(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in ("text/html", "application/xhtml+xml")
