"""A real SMTP server on loopback (aiosmtpd, on a thread and loop of its own): STARTTLS or
implicit TLS with a certificate made for the run, AUTH PLAIN and LOGIN against one account
(535 for anything else, and only over TLS), and every message it accepts recorded as parsed.
A test can stop it and start it again on the same port, have it answer 451 to the next
messages, or 550 to some recipients."""

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Certificate:
    ca_file: Path  # what a client trusts: the certificate of the CA that signed the server's
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def make_certificate(folder: Path) -> Certificate:
    """A CA made for this run and a certificate it signed for 127.0.0.1 and localhost."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Baton test CA"))
        .issuer_name(_name("Baton test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    return Certificate(
        ca_file=_pem(folder / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM)),
        cert_file=_pem(folder / "server.pem", cert.public_bytes(serialization.Encoding.PEM)),
        key_file=_pem(
            folder / "server.key",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        ),
    )


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    tls: bool  # whether it came over an encrypted connection


@dataclass
class SmtpTestServer:
    """``certificate`` offers STARTTLS (or, with ``implicit_tls``, TLS from the first byte);
    ``username`` requires nothing but refuses every other account, and is offered over TLS
    only, as a real submission server does."""

    certificate: Certificate | None = None
    implicit_tls: bool = False
    username: str | None = None
    password: str | None = None
    received: list[Received] = field(default_factory=list)
    refused_recipients: set[str] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)  # the accounts that logged in

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._transient = 0
        self._controller: Controller | None = None
        self.port = 0  # chosen at the first start, kept by every restart

    def start(self) -> "SmtpTestServer":
        assert self._controller is None, "already running"
        self._controller = _Controller(self, self._smtp_options())
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpTestServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def answer_451_to_next(self, count: int) -> None:
        with self._lock:
            self._transient = count

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def _smtp_options(self) -> dict[str, Any]:
        tls = None if self.certificate is None else self.certificate.server_context()
        options: dict[str, Any] = {
            "server_hostname": "localhost",  # not the machine's name: no DNS lookup
            "authenticator": self._authenticate,
            "auth_require_tls": not self.implicit_tls,  # implicit TLS is TLS already
            "ready_timeout": 10,
        }
        if self.implicit_tls:
            options["ssl_context"] = tls
        elif tls is not None:
            options["tls_context"] = tls
        return options

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if (
            self.username is not None
            and isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == (self.password or "")
        ):
            with self._lock:
                self.logins.append(self.username)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535 5.7.8

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refused_recipients:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self._transient > 0:
                self._transient -= 1
                return "451 4.3.0 Mailbox busy, try again later"
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("sslcontext") is not None
        with self._lock:
            self.received.append(
                Received(envelope.mail_from or "", list(envelope.rcpt_tos), message, raw, tls)
            )
        return "250 Message accepted"


class _Controller(Controller):
    """aiosmtpd's controller, on the port the server had (or a free one at first)."""

    def __init__(self, owner: SmtpTestServer, options: dict[str, Any]) -> None:
        super().__init__(owner, hostname=HOST, port=owner.port, **options)

    async def _bind(self) -> Any:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _create_server(self) -> Any:
        return self._bind()
