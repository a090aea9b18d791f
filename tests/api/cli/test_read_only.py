"""Commands that only read never create a database: run in the wrong directory, they say
there is none there instead of leaving an empty `./baton.db` behind."""

import sqlite3
from pathlib import Path

import pytest

from tests.api.cli.running import baton, one_line_error


@pytest.mark.parametrize(
    "command",
    [
        ("db", "status"),
        ("platforms", "list"),
        ("deliveries", "list"),
        ("deliveries", "list", "--slack"),
        ("digest", "--dry-run"),
    ],
)
def test_a_read_only_command_says_there_is_no_database(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    line = one_line_error(baton(tmp_path, *command))
    assert line == (
        "error: no database at baton.db: run `baton db upgrade` to create one here, or point "
        "BATON_DATABASE_URL at yours"
    )
    assert list(tmp_path.iterdir()) == []


def test_doctor_only_looks(tmp_path: Path) -> None:
    result = baton(tmp_path, "doctor")
    assert result.returncode == 1
    assert "no database at baton.db yet" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_database_without_the_newest_schema_is_left_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "baton.db").touch()  # e.g. made by another tool, or an interrupted copy
    line = one_line_error(baton(tmp_path, "platforms", "list"))
    assert "no Baton database at sqlite:///baton.db (it has no schema): run `baton db" in line
    with sqlite3.connect(tmp_path / "baton.db") as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []  # not migrated
