"""Sending email through the operator's SMTP server (``[smtp]``), one connection per message.

Every failure comes out as ``SmtpFailure``: one line for the log and ``baton doctor``, and
whether trying again later can help. The password never appears in either.
"""

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TypeVar

import aiosmtplib

log = logging.getLogger("baton.relay.smtp")

PASSWORD_HINT = "check BATON_SMTP_PASSWORD and [smtp] username"
CA_HINT = "set [smtp] ca_file to the CA that signed it"
E = TypeVar("E", bound=BaseException)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int = 587
    starttls: bool = True  # upgrade with STARTTLS, and refuse to send if it is not offered
    tls: bool = False  # implicit TLS (port 465)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "Baton <baton@localhost>"
    timeout: float = 30.0  # for the whole exchange
    ca_file: str | None = None  # trust this CA bundle (an internal CA) instead of the system's

    def __post_init__(self) -> None:
        if self.tls and self.starttls:
            raise ValueError(
                "[smtp] tls (TLS from the start, port 465) and starttls exclude each other:"
                " set starttls = false"
            )

    def describe(self) -> str:
        """``smtp.acme.example:587 (STARTTLS) as baton``."""
        security = "TLS" if self.tls else "STARTTLS" if self.starttls else "no TLS"
        login = f" as {self.username}" if self.username else ""
        return f"{self.host}:{self.port} ({security}){login}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class SmtpFailure(Exception):
    """One line saying what went wrong, never the password."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        # True: retrying will not help until someone changes the configuration or the server.
        self.permanent = permanent


async def send(server: SmtpServer, message: EmailMessage) -> None:
    """Send ``message`` to the recipients its headers name; raises ``SmtpFailure``."""
    async with _as_failures(server), asyncio.timeout(server.timeout), _session(server) as client:
        refused, _ = await client.send_message(message)
    if refused:  # the others got it: sending again would give it to them twice
        log.warning(
            "%s refused some recipients, the others got the email: %s",
            server.address,
            _one_line(server, "; ".join(f"{to}: {answer}" for to, answer in refused.items())),
        )


async def check_login(server: SmtpServer) -> str:
    """Connect, secure the connection and log in as configured; says what worked."""
    async with _as_failures(server), asyncio.timeout(server.timeout), _session(server):
        pass
    if server.username:
        return f"Logged in to {server.describe()}"
    return f"Connected to {server.describe()} (no [smtp] username: did not log in)"


@asynccontextmanager
async def _as_failures(server: SmtpServer) -> AsyncIterator[None]:
    """Turns what went wrong talking to the server into an ``SmtpFailure``."""
    try:
        yield
    except Exception as exc:
        failure = _failure(server, exc)
        if failure is None:  # not about sending: a bug
            raise
        raise failure from None


@asynccontextmanager
async def _session(server: SmtpServer) -> AsyncIterator[aiosmtplib.SMTP]:
    context = await asyncio.to_thread(_tls_context, server)
    client = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=server.tls,
        start_tls=False,  # done below, so that a server without it is refused, not skipped
        tls_context=context,
        timeout=server.timeout,
    )
    async with client:
        if server.starttls:
            await _starttls(server, client)
        if server.username:
            await _login(server, client)
        yield client


def _tls_context(server: SmtpServer) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=server.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SmtpFailure(
            f"cannot read the CA bundle [smtp] ca_file = {server.ca_file!r}: {exc}",
            permanent=True,
        ) from None


async def _starttls(server: SmtpServer, client: aiosmtplib.SMTP) -> None:
    await client.ehlo()
    if not client.supports_extension("starttls"):
        raise SmtpFailure(
            f"{server.address} does not offer STARTTLS: not sending in the clear (set"
            " [smtp] starttls = false only for a server on a network you trust)",
            permanent=True,
        )
    await client.starttls()


async def _login(server: SmtpServer, client: aiosmtplib.SMTP) -> None:
    try:
        await client.login(server.username or "", server.password or "")
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise SmtpFailure(
            _one_line(
                server,
                f"SMTP login refused for {server.username!r} at {server.address}:"
                f" {exc.code} {exc.message} — {PASSWORD_HINT}",
            ),
            permanent=exc.code >= 500,
        ) from None


def _failure(server: SmtpServer, exc: BaseException) -> SmtpFailure | None:
    """``exc`` as an ``SmtpFailure``; None for what is not about sending (a bug)."""
    if isinstance(exc, SmtpFailure):
        return exc
    found = _described(server, exc)
    if found is None:
        return None
    text, permanent = found
    return SmtpFailure(_one_line(server, text), permanent=permanent)


def _described(server: SmtpServer, exc: BaseException) -> tuple[str, bool] | None:
    at = server.address
    refused = _chained(exc, ssl.SSLCertVerificationError)
    if refused is not None:
        return f"the certificate of {at} was refused ({refused.verify_message}): {CA_HINT}", True
    tls = _chained(exc, ssl.SSLError)
    if tls is not None:
        return f"TLS with {at} failed: {tls} (is [smtp] tls or starttls right?)", True
    if isinstance(exc, TimeoutError):
        return f"{at} did not answer within {server.timeout:g} s", False
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        answers = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return f"{at} refused every recipient: {answers}", all(
            r.code >= 500 for r in exc.recipients
        )
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return f"{at} refused the sender {exc.sender}: {exc.code} {exc.message}", exc.code >= 500
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{at} answered {exc.code} {exc.message}", exc.code >= 500
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
        return f"cannot reach {at}: {exc}", False
    if isinstance(exc, OSError):
        return f"cannot reach {at}: {exc.strerror or exc}", False
    if isinstance(exc, aiosmtplib.SMTPException):  # AUTH or another extension missing
        return f"{at}: {exc}", True
    return None


def _chained(exc: BaseException, kind: type[E]) -> E | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _one_line(server: SmtpServer, text: str) -> str:
    if server.password:
        text = text.replace(server.password, "********")
    return " ".join(text.split())
