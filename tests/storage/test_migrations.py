"""The migrations build exactly the schema the models describe, on both databases."""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from storage.database import Database
from storage.migrate import current_revision, for_dialect, head_revision, upgrade
from tests.conftest import PG_URL, _admin


def _differences(connection: Connection) -> list:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": for_dialect(connection)}
    )
    return compare_metadata(context, SQLModel.metadata)


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
        assert await current_revision(db) == head_revision()
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_replicas_upgrading_together_do_not_race(pg_database: str) -> None:
    name = f"baton_mig_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    replicas = [Database(url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(db) for db in replicas))
        assert await current_revision(replicas[0]) == head_revision()
    finally:
        for db in replicas:
            await db.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_baton_db_upgrade_creates_and_then_keeps_the_schema(tmp_path: Path) -> None:
    baton = Path(sys.executable).parent / "baton"
    env = {**os.environ, "BATON_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}
    first = subprocess.run([baton, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "from empty to" in first.stdout
    again = subprocess.run([baton, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert "up to date" in again.stdout
    status = subprocess.run([baton, "db", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0
