"""Callback URLs: only public http(s) addresses are accepted, however they are spelled.

DNS is always a fake resolver here; no test sends network traffic.
"""

import base64
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from api.relay.callback_urls import UnsafeCallbackUrl, checked_addresses, validate_for_registration
from storage.platforms import PREFIX_LENGTH

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class FakeResolver:
    """Answers every lookup with fixed addresses (or an error) and records the lookups."""

    def __init__(self, answers: list[str] | None = None, error: OSError | None = None) -> None:
        self.answers = answers or []
        self.error = error
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if self.error is not None:
            raise self.error
        return list(self.answers)


# URL, and the word the refusal must use to say why.
REFUSED_LITERALS = [
    ("https://127.0.0.1/hook", "loopback"),
    ("https://[::1]/hook", "loopback"),
    ("https://localhost/hook", "loopback"),
    ("https://foo.localhost/hook", "loopback"),
    ("https://LocalHost./hook", "loopback"),
    ("https://10.0.0.1/hook", "private"),
    ("https://10.255.255.254/hook", "private"),
    ("https://172.16.0.1/hook", "private"),
    ("https://172.31.255.255/hook", "private"),
    ("https://192.168.1.10/hook", "private"),
    ("https://[fc00::1]/hook", "private"),
    ("https://[fd12:3456::1]/hook", "private"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://[ff02::1]/hook", "multicast"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://[::]/hook", "unspecified"),
    # Legacy IPv4 spellings that resolvers and browsers accept.
    ("https://0x7f.1/hook", "loopback"),
    ("https://2130706433/hook", "loopback"),
    ("https://127.1/hook", "loopback"),
    ("https://0177.0.0.1/hook", "loopback"),
    ("https://127.0.0.1./hook", "loopback"),
    # IPv4 hidden inside IPv6.
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
    ("https://[::127.0.0.1]/hook", "loopback"),
    ("https://[64:ff9b::a9fe:a9fe]/hook", "link-local"),  # NAT64 of 169.254.169.254
    ("https://[2002:7f00:1::]/hook", "loopback"),  # 6to4 of 127.0.0.1
    ("https://[2002:0a00:0001::]/hook", "private"),  # 6to4 of 10.0.0.1
]


@pytest.mark.parametrize(("url", "why"), REFUSED_LITERALS)
async def test_non_public_addresses_are_refused_without_asking_dns(url: str, why: str) -> None:
    resolver = FakeResolver([PUBLIC_V4])  # would make it pass if the name were looked up
    with pytest.raises(UnsafeCallbackUrl, match=why):
        await checked_addresses(url, allow_private=False, resolver=resolver)
    with pytest.raises(UnsafeCallbackUrl, match=why):
        await validate_for_registration(url, allow_private=False, resolver=resolver)
    assert resolver.lookups == []


async def test_a_documentation_range_is_not_a_public_address() -> None:
    # 203.0.113.0/24 (TEST-NET-3) is reserved for examples; nothing real answers there.
    with pytest.raises(UnsafeCallbackUrl, match=r"203\.0\.113\.7"):
        await checked_addresses(
            "https://203.0.113.7/hook", allow_private=False, resolver=FakeResolver()
        )


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.5"],
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["::ffff:192.168.0.1"],
        ["fe80::1%eth0"],
        [PUBLIC_V4, "127.0.0.1"],
        [PUBLIC_V6, "fd00::7"],
    ],
    ids=["private", "loopback", "metadata", "mapped", "scoped-link-local", "mixed-v4", "mixed-v6"],
)
async def test_a_public_name_whose_dns_answer_is_not_public_is_refused(
    answers: list[str],
) -> None:
    resolver = FakeResolver(answers)
    with pytest.raises(UnsafeCallbackUrl) as refused:
        await checked_addresses(
            "https://hooks.example.com/baton", allow_private=False, resolver=resolver
        )
    assert "hooks.example.com" in str(refused.value)
    with pytest.raises(UnsafeCallbackUrl):
        await validate_for_registration(
            "https://hooks.example.com/baton", allow_private=False, resolver=resolver
        )
    assert resolver.lookups[0] == ("hooks.example.com", 443)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:pw@example.com/x", "credentials"),
        ("https://token@example.com/x", "credentials"),
        ("ftp://example.com/hook", "https"),
        ("file:///etc/passwd", "https"),
        ("javascript:alert(1)", "https"),
        ("example.com/hook", "https"),
        ("https:///hook", "no host"),
        ("https://:443/hook", "no host"),
        ("https://example.com:99999/hook", "not a valid URL"),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
async def test_malformed_urls_are_refused_even_when_private_is_allowed(
    url: str, why: str, allow_private: bool
) -> None:
    resolver = FakeResolver([PUBLIC_V4])
    with pytest.raises(UnsafeCallbackUrl, match=why):
        await validate_for_registration(url, allow_private=allow_private, resolver=resolver)
    assert resolver.lookups == []


@pytest.mark.parametrize(
    ("url", "scheme", "port", "address"),
    [
        (f"https://{PUBLIC_V4}/hook", "https", 443, PUBLIC_V4),
        (f"http://{PUBLIC_V4}/hook", "http", 80, PUBLIC_V4),
        (f"https://{PUBLIC_V4}:8443/hook", "https", 8443, PUBLIC_V4),
        (f"https://[{PUBLIC_V6}]/hook", "https", 443, PUBLIC_V6),
    ],
)
async def test_public_addresses_are_accepted(
    url: str, scheme: str, port: int, address: str
) -> None:
    resolver = FakeResolver()
    target, addresses = await checked_addresses(url, allow_private=False, resolver=resolver)
    assert (target.scheme, target.port) == (scheme, port)
    assert addresses == [ipaddress.ip_address(address)]
    assert await validate_for_registration(url, allow_private=False, resolver=resolver) is None


async def test_a_name_resolving_to_public_addresses_is_accepted_and_pinned() -> None:
    resolver = FakeResolver([PUBLIC_V4, PUBLIC_V6])
    target, addresses = await checked_addresses(
        "https://hooks.example.com:8443/baton", allow_private=False, resolver=resolver
    )
    assert target.host == "hooks.example.com"
    assert resolver.lookups == [("hooks.example.com", 8443)]
    # The caller connects to exactly what was checked.
    assert addresses == [ipaddress.ip_address(PUBLIC_V4), ipaddress.ip_address(PUBLIC_V6)]
    warning = await validate_for_registration(
        "https://hooks.example.com/baton", allow_private=False, resolver=resolver
    )
    assert warning is None


@pytest.mark.parametrize(
    ("url", "answers"),
    [
        ("http://127.0.0.1:8080/hook", []),
        ("http://[::1]:8080/hook", []),
        ("http://localhost:8080/hook", ["127.0.0.1"]),
        ("https://10.0.0.5/hook", []),
        ("https://192.168.1.10/hook", []),
        ("https://0x7f.1/hook", []),
        ("https://[::ffff:127.0.0.1]/hook", []),
        ("https://receiver.internal/hook", ["10.0.0.5"]),
    ],
)
async def test_allow_private_lets_loopback_and_private_through(
    url: str, answers: list[str]
) -> None:
    resolver = FakeResolver(answers)
    _, addresses = await checked_addresses(url, allow_private=True, resolver=resolver)
    assert addresses
    assert await validate_for_registration(url, allow_private=True, resolver=resolver) is None


@pytest.mark.parametrize(
    ("url", "answers"),
    [
        ("https://224.0.0.1/hook", []),
        ("https://[ff02::1]/hook", []),
        ("https://0.0.0.0/hook", []),
        ("https://0/hook", []),
        ("https://[::]/hook", []),
        ("https://[::ffff:0.0.0.0]/hook", []),
        ("https://[2002:e000:1::]/hook", []),  # 6to4 of 224.0.0.1
        ("https://receiver.example.com/hook", ["239.1.2.3"]),
    ],
)
async def test_allow_private_still_refuses_multicast_and_unspecified(
    url: str, answers: list[str]
) -> None:
    with pytest.raises(UnsafeCallbackUrl, match="multicast or unspecified"):
        await validate_for_registration(url, allow_private=True, resolver=FakeResolver(answers))


@pytest.mark.parametrize(
    "resolver",
    [FakeResolver(error=OSError("Name or service not known")), FakeResolver([])],
    ids=["lookup-error", "no-answer"],
)
async def test_a_name_that_does_not_resolve_yet_registers_with_a_warning(
    resolver: FakeResolver,
) -> None:
    url = "https://hooks.not-yet-live.example/baton"
    warning = await validate_for_registration(url, allow_private=False, resolver=resolver)
    assert warning is not None
    assert "hooks.not-yet-live.example does not resolve" in warning
    assert "checked again" in warning
    # At delivery time the same URL is refused, not connected to blindly.
    with pytest.raises(UnsafeCallbackUrl, match="does not resolve"):
        await checked_addresses(url, allow_private=False, resolver=resolver)


# --- through the command line -------------------------------------------------------------


def _baton_executable() -> str:
    beside = Path(sys.executable).parent / "baton"
    if beside.exists():
        return str(beside)
    found = shutil.which("baton")
    assert found is not None, "the `baton` console script is not installed"
    return found


def _baton(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "SLACK_"))}
    environ.update(
        BATON_DATABASE_URL=f"sqlite:///{tmp_path / 'b.db'}",
        COLUMNS="200",
        NO_COLOR="1",
        **env,
    )
    return subprocess.run(
        [_baton_executable(), *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_refuses_a_loopback_callback_and_stores_nothing(tmp_path: Path) -> None:
    added = _baton(tmp_path, "platforms", "add", "acme", "--callback-url", "https://0x7f.1/hook")
    assert added.returncode == 2, added.stdout + added.stderr
    assert "0x7f.1" in added.stderr
    assert "loopback" in added.stderr
    assert "BATON_ALLOW_PRIVATE_CALLBACKS=true" in added.stderr
    assert "btn_" not in added.stdout + added.stderr
    assert list(tmp_path.iterdir()) == []  # refused before the database was touched


def test_cli_registers_a_platform_once_and_keeps_no_secret_in_clear(tmp_path: Path) -> None:
    url = "https://0x7f.1/hook"
    added = _baton(
        tmp_path,
        *("platforms", "add", "acme", "--callback-url", url, "--json"),
        BATON_ALLOW_PRIVATE_CALLBACKS="true",
    )
    assert added.returncode == 0, added.stderr
    lines = added.stdout.strip().splitlines()
    assert len(lines) == 1, added.stdout
    created = json.loads(lines[0])
    assert set(created) == {"platform", "api_key", "webhook_secret"}
    assert created["platform"] == "acme"
    api_key, secret = created["api_key"], created["webhook_secret"]
    assert api_key.startswith("btn_")
    assert secret.startswith("whsec_")

    again = _baton(
        tmp_path,
        *("platforms", "add", "acme", "--callback-url", url, "--json"),
        BATON_ALLOW_PRIVATE_CALLBACKS="true",
    )
    assert again.returncode == 2
    assert "acme" in again.stderr
    assert "already exists" in again.stderr
    assert "btn_" not in again.stdout

    listed = _baton(tmp_path, "platforms", "list")
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.strip().splitlines()[1:]  # under the header
    assert len(rows) == 1
    assert rows[0].startswith("acme") and url in rows[0]
    assert api_key not in listed.stdout and secret not in listed.stdout

    database_files = ("b.db", "b.db-wal", "b.db-shm", "b.db-journal")
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name in database_files)
    assert stored, "the database file was not written"
    assert api_key.encode() not in stored
    assert api_key[PREFIX_LENGTH:].encode() not in stored  # only a short prefix is visible
    assert secret.encode() not in stored
    assert secret.removeprefix("whsec_").encode() not in stored
    assert base64.b64decode(secret.removeprefix("whsec_")) not in stored
