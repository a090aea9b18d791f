"""Sending notification emails through a real SMTP server on loopback: what arrives, and what
each way of failing tells the operator (and whether trying again later can help)."""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from api.relay.smtp import SmtpFailure, SmtpServer, check_login, send
from blocks.email import RenderedEmail, email_message
from tests.smtp_server import HOST, Certificate, SmtpTestServer, make_certificate

USERNAME = "baton"
PASSWORD = "correct-horse-7Qx"
WRONG = "wrong-battery-9Zy"
SENDER = "Baton <baton@acme.example>"
LEADS = "support-leads@acme.example"
RENDERED = RenderedEmail(
    subject="SLA breached: first take for محمد بن عبد الله 🦊 (urgent)",
    text="SLA breached: the first take of محمد بن عبد الله 🦊's escalation was due 10:15.\n",
    html='<p dir="auto">SLA breached: <b>محمد بن عبد الله 🦊</b> &amp; Nguyễn</p>\n',
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp(certificate: Certificate) -> Iterator[SmtpTestServer]:
    """A submission server: STARTTLS, then login as baton."""
    with SmtpTestServer(certificate, username=USERNAME, password=PASSWORD) as server:
        yield server


def config(server: SmtpTestServer, certificate: Certificate, **changes: object) -> SmtpServer:
    values: dict[str, object] = {
        "host": HOST,
        "port": server.port,
        "username": USERNAME,
        "password": PASSWORD,
        "sender": SENDER,
        "ca_file": str(certificate.ca_file),
        "timeout": 5.0,
    }
    values.update(changes)
    return SmtpServer(**values)  # type: ignore[arg-type]


def message(*to: str) -> EmailMessage:
    return email_message(
        RENDERED, sender=SENDER, to=list(to) or [LEADS], date=datetime(2026, 3, 12, tzinfo=UTC)
    )


async def failure(server: SmtpServer, *to: str) -> SmtpFailure:
    with pytest.raises(SmtpFailure) as caught:
        await send(server, message(*to))
    assert "\n" not in str(caught.value)
    return caught.value


async def test_an_email_goes_through_starttls_and_login_and_arrives_whole(
    smtp: SmtpTestServer, certificate: Certificate
) -> None:
    await send(config(smtp, certificate), message())
    [received] = smtp.messages()
    assert received.tls and smtp.logins == [USERNAME]
    assert (received.mail_from, received.rcpt_tos) == ("baton@acme.example", [LEADS])
    got = received.message
    assert got["Subject"] == RENDERED.subject
    assert got["From"] == SENDER and got["To"] == LEADS
    assert got.get_content_type() == "multipart/alternative"
    plain, html = got.iter_parts()
    assert (plain.get_content_type(), plain.get_content_charset()) == ("text/plain", "utf-8")
    assert (html.get_content_type(), html.get_content_charset()) == ("text/html", "utf-8")
    assert plain.get_content() == RENDERED.text
    assert html.get_content() == RENDERED.html


async def test_implicit_tls_on_port_465_works_too(certificate: Certificate) -> None:
    with SmtpTestServer(
        certificate, implicit_tls=True, username=USERNAME, password=PASSWORD
    ) as server:
        await send(config(server, certificate, tls=True, starttls=False), message())
        [received] = server.messages()
    assert received.tls and received.message["Subject"] == RENDERED.subject


async def test_a_wrong_password_is_refused_for_good_and_says_what_to_fix(
    smtp: SmtpTestServer, certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        refused = await failure(config(smtp, certificate, password=WRONG))
    assert refused.permanent
    assert str(refused) == (
        f"SMTP login refused for 'baton' at {HOST}:{smtp.port}: 535 5.7.8 Authentication"
        " credentials invalid — check BATON_SMTP_PASSWORD and [smtp] username"
    )
    for text in (str(refused), repr(refused), caplog.text):
        assert WRONG not in text and PASSWORD not in text
    assert smtp.messages() == []


async def test_the_password_is_not_in_the_configurations_repr(certificate: Certificate) -> None:
    server = SmtpServer("smtp.acme.example", username="baton", password=PASSWORD)
    assert PASSWORD not in repr(server)
    assert server.describe() == "smtp.acme.example:587 (STARTTLS) as baton"
    assert SmtpServer("mx", 465, tls=True, starttls=False).describe() == "mx:465 (TLS)"
    assert SmtpServer("mx", 25, starttls=False).describe() == "mx:25 (no TLS)"
    with pytest.raises(ValueError, match="starttls = false"):
        SmtpServer("mx", 465, tls=True)


async def test_a_server_that_is_down_is_tried_again_and_then_gets_it(
    smtp: SmtpTestServer, certificate: Certificate
) -> None:
    server = config(smtp, certificate)
    smtp.stop()
    down = await failure(server)
    assert not down.permanent
    assert str(down).startswith(f"cannot reach {HOST}:{smtp.port}")
    smtp.start()  # back, on the same port
    await send(server, message())
    assert len(smtp.messages()) == 1


async def test_a_451_answer_is_tried_again(smtp: SmtpTestServer, certificate: Certificate) -> None:
    smtp.answer_451_to_next(1)
    busy = await failure(config(smtp, certificate))
    assert not busy.permanent
    assert "451 4.3.0 Mailbox busy, try again later" in str(busy)
    await send(config(smtp, certificate), message())
    assert len(smtp.messages()) == 1


async def test_a_refused_recipient_is_refused_for_good(
    smtp: SmtpTestServer, certificate: Certificate
) -> None:
    smtp.refused_recipients.add("nobody@acme.example")
    refused = await failure(config(smtp, certificate), "nobody@acme.example")
    assert refused.permanent
    assert "refused every recipient: nobody@acme.example: 550 5.1.1 No such mailbox" in str(refused)
    assert smtp.messages() == []


async def test_when_some_recipients_are_refused_the_others_get_it_once(
    smtp: SmtpTestServer, certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    smtp.refused_recipients.add("nobody@acme.example")
    with caplog.at_level(logging.WARNING, logger="baton.relay.smtp"):
        await send(config(smtp, certificate), message(LEADS, "nobody@acme.example"))
    [received] = smtp.messages()
    assert received.rcpt_tos == [LEADS]
    assert "the others got the email: nobody@acme.example: 550 5.1.1 No such mailbox" in caplog.text


async def test_a_server_without_starttls_gets_nothing_in_the_clear(
    certificate: Certificate,
) -> None:
    with SmtpTestServer() as plain:
        refused = await failure(config(plain, certificate, username=None, password=None))
        assert plain.messages() == []
    assert refused.permanent
    assert str(refused).startswith(f"{HOST}:{plain.port} does not offer STARTTLS")


async def test_without_starttls_a_trusted_server_gets_it_in_the_clear(
    certificate: Certificate,
) -> None:
    with SmtpTestServer() as plain:
        server = config(plain, certificate, starttls=False, username=None, password=None)
        await send(server, message())
        [received] = plain.messages()
    assert not received.tls and received.message["Subject"] == RENDERED.subject


async def test_a_certificate_from_an_unknown_ca_is_refused_for_good(
    smtp: SmtpTestServer, certificate: Certificate
) -> None:
    refused = await failure(config(smtp, certificate, ca_file=None))
    assert refused.permanent
    assert str(refused).startswith(f"the certificate of {HOST}:{smtp.port} was refused")
    assert "[smtp] ca_file" in str(refused)
    assert smtp.messages() == [] and smtp.logins == []


async def test_a_missing_ca_file_is_named(
    smtp: SmtpTestServer, certificate: Certificate, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    refused = await failure(config(smtp, certificate, ca_file=missing))
    assert refused.permanent and f"[smtp] ca_file = '{missing}'" in str(refused)


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A server that accepts connections and never says a word."""
    server = await asyncio.start_server(lambda _r, _w: None, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_server_that_does_not_answer_is_given_up_on_in_time(
    silent_port: int, certificate: Certificate
) -> None:
    server = SmtpServer(HOST, silent_port, timeout=0.3, ca_file=str(certificate.ca_file))
    started = asyncio.get_running_loop().time()
    with pytest.raises(SmtpFailure) as caught:
        await send(server, message())
    assert asyncio.get_running_loop().time() - started < 2
    assert not caught.value.permanent
    assert str(caught.value) == f"{HOST}:{silent_port} did not answer within 0.3 s"


async def _answer_slowly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Each answer in good time, but the whole exchange slower than the client's timeout."""

    async def say(line: bytes) -> None:
        await asyncio.sleep(0.15)
        writer.write(line + b"\r\n")
        await writer.drain()

    await say(b"220 slow.example ESMTP")
    while command := (await reader.readline()).upper():
        if command.startswith(b"DATA"):
            await say(b"354 go on")
            while (await reader.readline()) not in (b".\r\n", b""):
                pass
        await say(b"221 bye" if command.startswith(b"QUIT") else b"250 ok")
    writer.close()


async def test_the_timeout_holds_for_the_whole_exchange(certificate: Certificate) -> None:
    slow = await asyncio.start_server(_answer_slowly, HOST, 0)
    port = slow.sockets[0].getsockname()[1]
    try:
        with pytest.raises(SmtpFailure) as caught:
            await send(SmtpServer(HOST, port, starttls=False, timeout=0.4), message())
    finally:
        slow.close()
        await slow.wait_closed()
    assert not caught.value.permanent
    assert str(caught.value) == f"{HOST}:{port} did not answer within 0.4 s"


async def test_check_login_says_what_worked(smtp: SmtpTestServer, certificate: Certificate) -> None:
    answer = await check_login(config(smtp, certificate))
    assert answer == f"Logged in to {HOST}:{smtp.port} (STARTTLS) as baton"
    assert smtp.logins == [USERNAME] and smtp.messages() == []


async def test_check_login_reports_a_refused_login(
    smtp: SmtpTestServer, certificate: Certificate
) -> None:
    with pytest.raises(SmtpFailure) as caught:
        await check_login(config(smtp, certificate, password=WRONG))
    assert caught.value.permanent
    assert "SMTP login refused for 'baton'" in str(caught.value)
    assert "BATON_SMTP_PASSWORD" in str(caught.value) and WRONG not in str(caught.value)
    assert smtp.logins == []
