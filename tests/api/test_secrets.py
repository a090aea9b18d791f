"""API keys and webhook secrets are never stored in clear, nor written to a log."""

import logging

import pytest
from sqlalchemy import select, text
from sqlmodel import SQLModel

from api.logs import RedactingFilter
from storage.models import ApiKey, Platform
from tests.conftest import Env


async def _everything_stored(env: Env) -> str:
    """Every column of every row, as text."""
    parts: list[str] = []
    async with env.db.read() as s:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await s.execute(text(f"SELECT * FROM {table.name}"))).all():
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


async def test_keys_and_secrets_are_not_in_the_database(env: Env) -> None:
    await env.create()
    stored = await _everything_stored(env)
    assert env.platform.api_key not in stored
    assert env.platform.webhook_secret not in stored
    assert env.platform.webhook_secret.removeprefix("whsec_") not in stored
    async with env.db.read() as s:
        key = (await s.execute(select(ApiKey))).scalars().one()
        platform = (await s.execute(select(Platform))).scalars().one()
    assert env.platform.api_key.startswith(key.prefix)
    assert len(key.key_hash) == 64
    # The secret is recoverable with the instance key (the relay must sign with it).
    assert env.services.box.open(platform.webhook_secret_sealed) == env.platform.webhook_secret


async def test_nothing_secret_reaches_the_logs(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    esc = await env.create()
    await env.client.get("/v1/escalations", headers={"Authorization": "Bearer btn_wrongwrong"})
    await env.client.post(
        f"/v1/escalations/{esc['id']}/take", json={"agent": "U1"}, headers=env.auth
    )
    await env.client.get("/nope", headers=env.auth)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert env.platform.api_key not in logged
    assert env.platform.webhook_secret not in logged
    assert "btn_wrongwrong" not in logged


def test_the_redacting_filter_masks_every_kind_of_secret() -> None:
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "key=%s secret=%s bot=%s app=%s hdr=%s signing=%s",
        (
            "btn_abcdefghijkl",
            "whsec_c2VjcmV0c2VjcmV0",
            "xoxb-1-2-abc",
            "xapp-1-A1-xyz",
            "Authorization: Bearer abc.def",
            "8f742231b10e8888",
        ),
        None,
    )
    RedactingFilter(literals=["8f742231b10e8888"]).filter(record)
    message = record.getMessage()
    for secret in ("btn_abc", "whsec_c2V", "xoxb-1", "xapp-1", "abc.def", "8f742231"):
        assert secret not in message
    assert message.count("[redacted]") == 6
