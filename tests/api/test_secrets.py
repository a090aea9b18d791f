"""API keys and webhook secrets are never stored in clear, nor written to a log."""

import io
import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text
from sqlmodel import SQLModel

from api.logs import MASK, RedactingFilter
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


# Every kind of token Slack hands out, as long as real ones: each must be masked whole.
SLACK_TOKENS = {
    "bot": "xoxb-1111111111-2222222222-a1B2c3D4e5F6g7H8i9J0k1L2",
    "user": "xoxp-1111111111-2222222222-3333333333-0123456789abcdef0123456789abcdef",
    "workspace app": "xoxa-2-1111111111-2222222222-3333333333-0123456789abcdef",
    "refresh": "xoxr-1111111111-2222222222-0123456789abcdef",
    "legacy session": "xoxs-1111111111-2222222222-3333333333-0123456789abcdef",
    "config refresh": "xoxe-1-My0xLTExMTExMTExMTEtMjIyMjIyMjIyMjItMzMzMzMz",
    "rotating user": "xoxe.xoxp-1-Mi0yLTExMTExMTExMTEtMjIyMjIyMjIyMjItMzMzMzMz",
    "rotating bot": "xoxe.xoxb-1-MS0yLTExMTExMTExMTEtMjIyMjIyMjIyMjItMzMzMzMz",
    "browser client": "xoxc-1111111111-2222222222-3333333333-0123456789abcdef0123456789",
    "browser cookie, URL-encoded": "xoxd-aBcDeF%2FgHiJkL%2BmNoPqR%3D%3D",
    "browser cookie, decoded": "xoxd-aBcDeF/gHiJkL+mNoPqR==",
    "app-level": "xapp-1-A0123456789-1111111111-0123456789abcdef",
    "workflow": "xwfp-1111111111-2222222222-0123456789abcdef",
}


@contextmanager
def _written_log(literals: Iterable[str] = ()) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger and what its handler writes: Baton's format, through Baton's filter."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(literals))
    log = logging.getLogger(f"baton.test_secrets.{uuid.uuid4().hex}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)
    try:
        yield log, written
    finally:
        log.removeHandler(handler)


@pytest.mark.parametrize("token", SLACK_TOKENS.values(), ids=SLACK_TOKENS.keys())
def test_every_kind_of_slack_token_is_masked_whole(token: str) -> None:
    with _written_log() as (log, written):
        log.warning("Slack refused token %s, giving up", token)
    assert written.getvalue().endswith(f": Slack refused token {MASK}, giving up\n")


def _warn_with_stack(log: logging.Logger, token: str) -> None:
    log.warning("posting the card failed", stack_info=True)


def test_the_stack_of_a_record_logged_with_stack_info_is_scrubbed() -> None:
    with _written_log() as (log, written):
        _warn_with_stack(log, "xoxb-1111111111-2222222222-a1B2c3D4e5F6g7H8i9J0k1L2")
    text = written.getvalue()
    assert "Stack (most recent call last):" in text
    assert f'_warn_with_stack(log, "{MASK}")' in text
    assert "a1B2c3D4e5F6g7H8" not in text


def test_a_message_formatted_from_a_dict_is_scrubbed() -> None:
    with _written_log(literals=["8f742231b10e8888"]) as (log, written):
        log.info(
            "auth with %(token)s, signing with %(secret)s",
            {"token": SLACK_TOKENS["bot"], "secret": "8f742231b10e8888"},
        )
    assert written.getvalue().endswith(f": auth with {MASK}, signing with {MASK}\n")


def _fail(message: str) -> None:
    raise ValueError(message)


def test_every_exception_of_a_chain_is_scrubbed() -> None:
    secrets = [
        "btn_abcdefghijkl",
        SLACK_TOKENS["browser cookie, URL-encoded"],
        SLACK_TOKENS["browser client"],
    ]
    with _written_log() as (log, written):
        try:
            try:
                try:
                    raise ConnectionError(f"refused Authorization: Bearer {secrets[0]}")
                except ConnectionError:
                    _fail(f"retried with cookie d={secrets[1]}")  # chained implicitly
            except ValueError as exc:
                raise RuntimeError(f"posting with {secrets[2]} failed") from exc
        except RuntimeError:
            log.exception("Slack post failed")
    text = written.getvalue()
    assert "During handling of the above exception, another exception occurred" in text
    assert "The above exception was the direct cause of the following exception" in text
    assert text.count(MASK) == 3
    assert not [secret for secret in secrets if secret[-8:] in text]


def test_a_traceback_another_handler_formatted_first_is_scrubbed() -> None:
    with _written_log() as (log, written):
        earlier = logging.StreamHandler(io.StringIO())  # unfiltered: caches the traceback
        log.handlers.insert(0, earlier)
        try:
            raise RuntimeError(f"posting with {SLACK_TOKENS['bot']} failed")
        except RuntimeError:
            log.exception("Slack post failed")
        log.removeHandler(earlier)
    text = written.getvalue()
    assert f"RuntimeError: posting with {MASK} failed" in text
    assert "a1B2c3D4e5F6g7H8" not in text


def test_a_logging_call_whose_arguments_do_not_fit_is_written_scrubbed_not_raised() -> None:
    with _written_log() as (log, written):
        log.warning("token %s for team %s", SLACK_TOKENS["bot"])  # one argument short
    text = written.getvalue()
    assert f"token %s for team %s (arguments that did not fit: ('{MASK}',))" in text
    assert "a1B2c3D4e5F6g7H8" not in text
