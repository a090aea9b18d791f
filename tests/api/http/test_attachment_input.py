"""Attachments that cannot be fetched as files are refused at the door: 422 naming the
field, and nothing is created or queued."""

from typing import Any

import pytest

from tests.api.http.test_unstorable_text import assert_refused
from tests.conftest import Env, escalation_body

GOOD = {"url": "https://files.example.com/receipt.png", "name": "receipt.png"}
BAD_ATTACHMENTS = [
    pytest.param([{"url": "ftp://files.example.com/a.png"}], "0.url", id="ftp"),
    pytest.param([{"url": "file:///etc/passwd"}], "0.url", id="file-scheme"),
    pytest.param([{"url": "javascript:alert(1)"}], "0.url", id="javascript"),
    pytest.param([{"name": "no-url.png"}], "0.url", id="no-url"),
    pytest.param([GOOD] * 21, "attachments", id="21-attachments"),
    pytest.param([{**GOOD, "name": "n" * 10_000}], "0.name", id="10kB-name"),
    pytest.param([{**GOOD, "size": 12}], "0.size", id="unknown-field"),
]


@pytest.mark.parametrize(("attachments", "field"), BAD_ATTACHMENTS)
async def test_a_bad_attachment_on_a_customer_message_is_422_naming_it(
    env: Env, attachments: list[dict[str, Any]], field: str
) -> None:
    esc = await env.create()
    before = await env.counts()
    response = await env.client.post(
        f"/v1/escalations/{esc['id']}/messages",
        json={"content": "see attached", "attachments": attachments},
        headers=env.auth,
    )
    where = "attachments" if field == "attachments" else f"attachments.{field}"
    assert_refused(response, where)
    assert await env.counts() == before


@pytest.mark.parametrize(("attachments", "field"), BAD_ATTACHMENTS)
async def test_a_bad_attachment_in_a_transcript_is_422_naming_it(
    env: Env, attachments: list[dict[str, Any]], field: str
) -> None:
    before = await env.counts()
    body = escalation_body()
    body["transcript"][0]["attachments"] = attachments
    response = await env.client.post("/v1/escalations", json=body, headers=env.auth)
    where = "attachments" if field == "attachments" else f"attachments.{field}"
    assert_refused(response, f"transcript.0.{where}")
    assert await env.counts() == before
