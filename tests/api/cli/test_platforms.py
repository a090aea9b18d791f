"""`baton platforms` as an operator uses it: list them, rotate a key, move a callback,
remove a platform (its key stops working; its escalations stay)."""

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storage.database import Database
from storage.platforms import find_key_owner, list_with_keys
from storage.sealing import SecretBox
from tests.api.cli.running import baton, one_line_error, plain
from tests.conftest import escalation_body
from tests.processes import clean_env, free_port, start_serve, wait_ready

CALLBACK = "http://127.0.0.1:9/hook"
OPT_IN = {"BATON_ALLOW_PRIVATE_CALLBACKS": "true"}


def add(cwd: Path, name: str = "acme", callback: str = CALLBACK) -> dict[str, str]:
    added = baton(cwd, "platforms", "add", name, "--callback-url", callback, "--json", **OPT_IN)
    assert added.returncode == 0, added.stderr
    credentials: dict[str, str] = json.loads(added.stdout)
    return credentials


def owner_of(cwd: Path, api_key: str) -> str | None:
    async def find() -> str | None:
        db = Database(f"sqlite:///{cwd / 'baton.db'}")
        try:
            owner = await find_key_owner(db, api_key)
        finally:
            await db.dispose()
        return None if owner is None else owner.platform_name

    return asyncio.run(find())


def test_list_says_when_there_are_none(tmp_path: Path) -> None:
    assert baton(tmp_path, "db", "upgrade").returncode == 0
    listed = baton(tmp_path, "platforms", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "No platforms are registered: add one with `baton platforms add NAME --callback-url URL`."
    ]


def test_list_has_a_header_and_never_a_secret(tmp_path: Path) -> None:
    created = add(tmp_path)
    listed = baton(tmp_path, "platforms", "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split("\t") == ["name", "key", "callback URL", "id", "registered"]
    name, key, callback, platform_id, _ = row.split("\t")
    assert (name, callback) == ("acme", CALLBACK)
    assert created["api_key"].startswith(key.removesuffix("…"))
    assert platform_id.startswith("plt_")
    assert created["api_key"] not in listed.stdout
    assert created["webhook_secret"] not in listed.stdout

    drawn = plain(baton(tmp_path, "platforms", "list", terminal=True).stdout)
    assert "callback URL" in drawn and "acme" in drawn
    assert all(len(line) <= 120 for line in drawn.splitlines())


def test_rotating_a_key_revokes_the_old_one(tmp_path: Path) -> None:
    old = add(tmp_path)
    rotated = baton(tmp_path, "platforms", "rotate-key", "acme")
    assert rotated.returncode == 0, rotated.stderr
    lines = rotated.stdout.splitlines()
    assert lines[:2] == [
        "New credentials for acme; the old API key is revoked.",
        "Store these now; they are not shown again.",
    ]
    [new_key] = [line.split()[-1] for line in lines if line.startswith("  API key:")]
    assert len(lines) == 3
    assert owner_of(tmp_path, old["api_key"]) is None
    assert owner_of(tmp_path, new_key) == "acme"


def test_rotating_the_webhook_secret_too(tmp_path: Path) -> None:
    add(tmp_path)
    rotated = baton(tmp_path, "platforms", "rotate-key", "acme", "--webhook-secret", "--json")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    assert set(new) == {"platform", "api_key", "webhook_secret"}

    async def sealed() -> str:
        db = Database(f"sqlite:///{tmp_path / 'baton.db'}")
        try:
            [entry] = await list_with_keys(db)
        finally:
            await db.dispose()
        return entry.platform.webhook_secret_sealed

    box = SecretBox((tmp_path / "baton.db.key").read_text().strip())
    assert box.open(asyncio.run(sealed())) == new["webhook_secret"]


def test_set_callback_checks_the_url_as_add_does(tmp_path: Path) -> None:
    add(tmp_path)
    refused = baton(tmp_path, "platforms", "set-callback", "acme", "http://127.0.0.1:10/new")
    line = one_line_error(refused)
    assert "127.0.0.1 is a loopback address" in line
    assert "BATON_ALLOW_PRIVATE_CALLBACKS=true" in line

    moved = baton(
        tmp_path, "platforms", "set-callback", "acme", "http://127.0.0.1:10/new", "--json", **OPT_IN
    )
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout) == {
        "platform": "acme",
        "callback_url": "http://127.0.0.1:10/new",
    }
    listed = baton(tmp_path, "platforms", "list").stdout
    assert "\thttp://127.0.0.1:10/new\t" in listed


def test_add_names_the_opt_in_for_a_private_callback(tmp_path: Path) -> None:
    refused = baton(tmp_path, "platforms", "add", "acme", "--callback-url", "http://10.1.2.3/x")
    line = one_line_error(refused)
    assert "10.1.2.3 is a private address" in line
    assert "BATON_ALLOW_PRIVATE_CALLBACKS=true" in line


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (("rotate-key", "nobody"), "no platform is named 'nobody'"),
        (("remove", "nobody"), "no platform is named 'nobody'"),
        (("set-callback", "nobody", CALLBACK), "no platform is named 'nobody'"),
    ],
)
def test_an_unknown_platform_is_named(tmp_path: Path, command: tuple[str, ...], said: str) -> None:
    assert baton(tmp_path, "db", "upgrade").returncode == 0
    assert said in one_line_error(baton(tmp_path, "platforms", *command, **OPT_IN))


def test_a_removed_platform_is_listed_as_removed_and_stays_removed(tmp_path: Path) -> None:
    created = add(tmp_path)
    removed = baton(tmp_path, "platforms", "remove", "acme")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == [
        "Removed platform acme: its API key no longer works; its escalations are kept."
    ]
    assert owner_of(tmp_path, created["api_key"]) is None
    [row] = baton(tmp_path, "platforms", "list").stdout.splitlines()[1:]
    assert row.split("\t")[:2] == ["acme", "removed"]
    for command in (("rotate-key", "acme"), ("remove", "acme")):
        line = one_line_error(baton(tmp_path, "platforms", *command))
        assert "the platform 'acme' was removed" in line


# ----------------------------------------------------------------- against a running server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("served")
    port = free_port()
    server = start_serve(workdir, port, clean_env(**OPT_IN))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server)
        yield base, workdir
    finally:
        server.terminate()
        server.wait(timeout=10)


def escalate(base: str, api_key: str, conversation: str) -> int:
    response = httpx.post(
        f"{base}/v1/escalations",
        headers={"Authorization": f"Bearer {api_key}"},
        json=escalation_body(conversation_id=conversation),
    )
    return response.status_code


def test_a_rotated_key_is_refused_and_the_new_one_works(served: tuple[str, Path]) -> None:
    base, workdir = served
    old = add(workdir, "rotating")["api_key"]
    new = json.loads(baton(workdir, "platforms", "rotate-key", "rotating", "--json").stdout)
    assert escalate(base, old, "rot-1") == 401
    assert escalate(base, new["api_key"], "rot-2") == 201


def test_a_removed_platform_keeps_its_escalations(served: tuple[str, Path]) -> None:
    base, workdir = served
    first = add(workdir, "leaving")["api_key"]
    assert escalate(base, first, "leave-1") == 201
    unused = json.loads(baton(workdir, "platforms", "rotate-key", "leaving", "--json").stdout)
    assert baton(workdir, "platforms", "remove", "leaving").returncode == 0
    assert escalate(base, unused["api_key"], "leave-2") == 401
    with sqlite3.connect(workdir / "baton.db") as conn:
        kept = conn.execute(
            "SELECT count(*) FROM escalations JOIN platforms ON platforms.id = platform_id "
            "WHERE platforms.name = 'leaving'"
        ).fetchone()[0]
    assert kept == 1


def test_a_key_in_use_is_refused_as_soon_as_it_is_rotated(served: tuple[str, Path]) -> None:
    base, workdir = served
    key = add(workdir, "busy")["api_key"]
    assert escalate(base, key, "busy-1") == 201
    rotated = baton(workdir, "platforms", "rotate-key", "busy")
    assert rotated.returncode == 0, rotated.stderr
    assert escalate(base, key, "busy-2") == 401
