"""Fetching a customer's attachment under the callback rules (SPEC §9).

Every hop is checked like a callback URL and connected to exactly the address checked;
redirects are followed by hand, each checked again, so none leads to a private address. The
body is spooled (to disk past ``IN_MEMORY``), never held whole in memory, and refused as soon
as it grows past ``max_bytes``. ``timeout`` bounds the whole fetch, so a server that trickles
bytes forever is cut off.
"""

import asyncio
import tempfile
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import IO, BinaryIO, cast
from urllib.parse import urljoin

import httpx

from api.relay.callback_urls import (
    Pinned,
    RefusedAddress,
    Resolver,
    Unresolved,
    UnsafeCallbackUrl,
    pinned,
    system_resolver,
)
from blocks.notices import human_size
from bot.files import FetchedFile, NotFetched

USER_AGENT = "Baton-Files/1"
IN_MEMORY = 1024 * 1024  # spooled in memory up to this size, then on disk
OPT_IN = "BATON_ALLOW_PRIVATE_CALLBACKS"


class FileFetcher:
    """Implements ``bot.files.FileSource``."""

    def __init__(
        self,
        *,
        max_bytes: int,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
        timeout: float = 30.0,
        max_redirects: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.max_bytes, self.allow_private, self.resolver = max_bytes, allow_private, resolver
        self.timeout, self.max_redirects = timeout, max_redirects
        self._client = httpx.AsyncClient(
            timeout=None,  # the whole fetch is bounded by ``timeout`` instead
            follow_redirects=False,
            transport=transport,
            # No proxies or .netrc credentials from the environment, and no cookies kept.
            trust_env=False,
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
            headers={"user-agent": USER_AGENT, "accept-encoding": "identity"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> FetchedFile:
        """The file at ``url``, or ``NotFetched`` saying why and whether to try again."""
        # Handed to the caller in the FetchedFile, closed here only on failure.
        spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115
        try:
            async with asyncio.timeout(self.timeout):
                size, content_type = await self._follow(url, spool)
        except NotFetched:
            spool.close()
            raise
        except BaseException as exc:
            spool.close()
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from exc
        spool.seek(0)
        # typeshed does not count a spooled file as a BinaryIO; it has every method one has.
        return FetchedFile(cast(BinaryIO, spool), size, content_type)

    async def _follow(self, url: str, spool: IO[bytes]) -> tuple[int, str | None]:
        """Request ``url``, following at most ``max_redirects`` redirects by hand."""
        for hop in range(self.max_redirects + 1):
            target = await self._pin(url, redirected=hop > 0)
            request = self._client.build_request(
                "GET", target.url, headers={"host": target.host}, extensions=target.extensions
            )
            response = await self._client.send(request, stream=True)
            try:
                if response.has_redirect_location:
                    url = urljoin(url, response.headers["location"])
                    continue
                self._accept(response)
                return await self._read(response, spool), response.headers.get("content-type")
            finally:
                await response.aclose()
        raise NotFetched(f"the file server redirected more than {self.max_redirects} times")

    async def _pin(self, url: str, *, redirected: bool) -> Pinned:
        try:
            return await pinned(url, allow_private=self.allow_private, resolver=self.resolver)
        except UnsafeCallbackUrl as exc:
            where = f"the file server redirected to {url}, but " if redirected else ""
            raise refused(exc, where) from None

    def _accept(self, response: httpx.Response) -> None:
        """Refuse an answer that is not the file, or a file declared too large."""
        status = response.status_code
        if not response.is_success:
            answered = f"the file server answered {status} {response.reason_phrase}".rstrip()
            raise NotFetched(answered, retry=status >= 500 or status == 429)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise NotFetched(self._too_large(f"{human_size(int(declared))}, "))

    async def _read(self, response: httpx.Response, spool: IO[bytes]) -> int:
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise NotFetched(self._too_large())
            spool.write(chunk)
        return size

    def _too_large(self, declared: str = "") -> str:
        return f"the file is {declared}larger than the {human_size(self.max_bytes)} limit"

    def _failure(self, exc: BaseException) -> NotFetched | None:
        """What a failure means for the agent, or None if it is not the fetch's to explain
        (a cancellation, a bug)."""
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return NotFetched(
                f"the file server did not send the file within {self.timeout:g} s", retry=True
            )
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.TransportError):
            return NotFetched(f"the connection to the file server failed ({detail})", retry=True)
        if isinstance(exc, httpx.HTTPError | httpx.InvalidURL):
            return NotFetched(f"the file server's answer was not usable ({detail})")
        return None


def refused(exc: UnsafeCallbackUrl, where: str = "") -> NotFetched:
    """A URL the callback rules refuse, in words for the agent; only an unresolved host may
    work later."""
    if isinstance(exc, Unresolved):
        return NotFetched(f"{where}{exc.host} does not resolve", retry=True)
    if isinstance(exc, RefusedAddress):
        reason = f"{where}Baton does not fetch files from {exc.host}: {exc.why}"
        if exc.private:
            reason += (
                f" (private and loopback addresses are allowed only with {OPT_IN}=true, "
                "for tests and local demos)"
            )
        return NotFetched(reason)
    return NotFetched(f"{where}Baton does not fetch this link: {exc}")
