"""Where Baton may connect (to POST platform events, to fetch customers' files): public
http(s) addresses only.

Checked at registration and again before every connection, because DNS can change. Every
spelling of an address is unwrapped first: IPv4 in legacy forms (``0x7f.1``,
``2130706433``), and IPv4 embedded in IPv6 (mapped, compatible, NAT64, 6to4, Teredo).
"""

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class UnsafeCallbackUrl(ValueError):
    pass


class RefusedAddress(UnsafeCallbackUrl):
    """The host is, or resolves to, an address Baton does not connect to. ``private``: the
    opt-in for tests and local demos (``BATON_ALLOW_PRIVATE_CALLBACKS``) would allow it."""

    def __init__(self, message: str, *, host: str, why: str, private: bool) -> None:
        super().__init__(message)
        self.host, self.why, self.private = host, why, private


class Unresolved(UnsafeCallbackUrl):
    """The host has no address (yet): DNS may answer later."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


@dataclass(frozen=True)
class CallbackTarget:
    scheme: str
    host: str
    port: int


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_target(url: str) -> CallbackTarget:
    """Check the URL's shape: scheme, no credentials, a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeCallbackUrl(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeCallbackUrl("the URL must use https (or http)")
    if parts.username is not None or parts.password is not None:
        raise UnsafeCallbackUrl("the URL must not carry credentials")
    if not parts.hostname:
        raise UnsafeCallbackUrl("the URL has no host")
    default_port = 443 if parts.scheme == "https" else 80
    return CallbackTarget(parts.scheme, parts.hostname.rstrip("."), port or default_port)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names by itself, in any spelling a resolver would accept."""
    with contextlib.suppress(ValueError):  # not standard notation: maybe 127.1 or 0x7f.1
        return ipaddress.ip_address(host.strip("[]"))
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden inside an IPv6 one, if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return address


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why Baton will not connect to this address, or None if it may."""
    inner = unwrap(address)
    if inner.is_multicast or inner.is_unspecified:
        return f"{address} is a multicast or unspecified address"
    if allow_private:
        return None
    for label, test in (
        ("loopback", inner.is_loopback),
        ("link-local", inner.is_link_local),
        ("private", inner.is_private),
        ("reserved", inner.is_reserved),
    ):
        if test:
            return f"{address} is a {label} address"
    if not inner.is_global:
        return f"{address} is not a public address"
    return None


async def checked_addresses(
    url: str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> tuple[CallbackTarget, list[IPAddress]]:
    """Resolve the URL's host and refuse it unless every address is allowed.

    Returns the addresses to connect to, so the caller connects to what was checked.
    """
    target = parse_target(url)
    host = target.host.lower()
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise RefusedAddress(
            f"{target.host} is a loopback name",
            host=target.host,
            why="it is a loopback name",
            private=True,
        )
    literal = literal_address(target.host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            answers = await resolver(target.host, target.port)
        except OSError as exc:
            message = f"{target.host} does not resolve: {exc}"
            raise Unresolved(message, host=target.host) from None
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        if not addresses:
            raise Unresolved(f"{target.host} does not resolve", host=target.host)
    for address in addresses:
        reason = refusal(address, allow_private)
        if reason is not None:
            raise RefusedAddress(
                f"callback host {target.host} refused: {reason}",
                host=target.host,
                why=reason,
                private=refusal(address, True) is None,
            )
    return target, addresses


@dataclass(frozen=True)
class Pinned:
    """A request's URL rewritten to the address just checked, with the original ``Host``
    header and TLS server name, so a DNS answer cannot change between check and connect."""

    url: str
    host: str
    extensions: dict[str, str]


async def pinned(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Pinned:
    """Check ``url`` as ``checked_addresses`` does and pin it to the first address."""
    target, addresses = await checked_addresses(url, allow_private=allow_private, resolver=resolver)
    parts = urlsplit(url)
    default = 443 if target.scheme == "https" else 80
    netloc = _with_port(_bracketed(addresses[0]), target.port, default)
    name = parts.hostname or target.host
    named = f"[{name}]" if ":" in name else name  # only an IPv6 literal has colons
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return Pinned(
        urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        _with_port(named, target.port, default),
        extensions,
    )


def _bracketed(address: IPAddress) -> str:
    return f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)


def _with_port(host: str, port: int, default: int) -> str:
    return host if port == default else f"{host}:{port}"


async def validate_for_registration(
    url: str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> str | None:
    """Refuse an unsafe URL; a host that does not resolve yet is accepted with a warning
    (it is checked again before every delivery)."""
    try:
        await checked_addresses(url, allow_private=allow_private, resolver=resolver)
    except Unresolved as exc:
        return str(exc) + "; it will be checked again before each delivery"
    return None
