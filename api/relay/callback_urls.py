"""Where Baton may POST platform events: public http(s) addresses only.

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
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class UnsafeCallbackUrl(ValueError):
    pass


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
        raise UnsafeCallbackUrl("the callback URL must use https (or http)")
    if parts.username is not None or parts.password is not None:
        raise UnsafeCallbackUrl("the callback URL must not carry credentials")
    if not parts.hostname:
        raise UnsafeCallbackUrl("the callback URL has no host")
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
        raise UnsafeCallbackUrl(f"{target.host} is a loopback name")
    literal = literal_address(target.host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            answers = await resolver(target.host, target.port)
        except OSError as exc:
            raise UnsafeCallbackUrl(f"{target.host} does not resolve: {exc}") from None
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        if not addresses:
            raise UnsafeCallbackUrl(f"{target.host} does not resolve")
    for address in addresses:
        reason = refusal(address, allow_private)
        if reason is not None:
            raise UnsafeCallbackUrl(f"callback host {target.host} refused: {reason}")
    return target, addresses


async def validate_for_registration(
    url: str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> str | None:
    """Refuse an unsafe URL; a host that does not resolve yet is accepted with a warning
    (it is checked again before every delivery)."""
    try:
        await checked_addresses(url, allow_private=allow_private, resolver=resolver)
    except UnsafeCallbackUrl as exc:
        if "does not resolve" in str(exc):
            return str(exc) + "; it will be checked again before each delivery"
        raise
    return None
