"""Schemathesis against Baton's own OpenAPI document (``/openapi.json``), in-process over ASGI
on a real database: every documented operation, with a real platform's API key, answers only
status codes its schema documents, never a 5xx, with bodies and headers matching the schema.

Path ids are half random and half escalations that exist (some queued, some taken by a known
agent, who half of the time is the one acting), so the routes are fuzzed past their 404s.

``POST /slack/events`` is Slack's protocol, not the platform API: it is left out of the
document and fuzzed on its own with requests Slack did not sign, which must all answer 401.
"""

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.config import ApiSection, Config
from api.http.app import build_services, create_app
from api.settings import Settings
from storage.database import Database
from storage.platforms import add_platform
from tests.bot.conftest import CHANNEL, SIGNING_SECRET, running_standin
from tests.conftest import escalation_body, make_settings, run_in_thread

pytestmark = pytest.mark.faults

AGENT = "U0FUZZ"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# Fixed examples, derandomized: CI fuzzes the same requests every run.
FUZZ = settings(
    max_examples=60,  # per operation
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Target:
    app: FastAPI
    schema: schemathesis.BaseSchema
    auth: dict[str, str]


async def _register_platform(settings_: Settings) -> str:
    db = Database(settings_.database_url)
    try:
        added = await add_platform(db, settings_.secret_box(), "acme", "https://203.0.113.9/hook")
    finally:
        await db.dispose()
    return added.api_key


@pytest.fixture
def served() -> Iterator[Callable[[Settings], FastAPI]]:
    """Builds the app; the schemathesis ASGI client starts its lifespan on the first request
    and keeps it until this fixture ends it."""

    def build(settings_: Settings) -> FastAPI:
        # Tests fire requests far faster than any platform; the rate limit has tests of its own.
        services = build_services(settings_, Config(api=ApiSection(rate_limit=0)))
        return create_app(services=services, migrate=False, run_scheduler=False, run_workers=False)

    try:
        yield build
    finally:
        asgi.shutdown_lifespans()


def _seed(app: FastAPI, auth: dict[str, str]) -> list[str]:
    """Three new queued escalations and three taken by ``AGENT``."""
    ids = []
    with asgi.get_client(app) as client:
        for n in range(6):
            created = client.post("/v1/escalations", json=escalation_body(), headers=auth)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
            if n % 2:
                taken = client.post(
                    f"/v1/escalations/{ids[-1]}/take", json={"agent": AGENT}, headers=auth
                )
                assert taken.status_code == 200, taken.text
    return ids


@pytest.fixture
def target(database_url: str, served: Callable[[Settings], FastAPI]) -> Target:
    settings_ = make_settings(database_url)
    auth = {"Authorization": f"Bearer {run_in_thread(lambda: _register_platform(settings_))}"}
    app = served(settings_)
    return Target(app, schemathesis.openapi.from_asgi("/openapi.json", app), auth)


def _documented(app: FastAPI) -> set[str]:
    """``METHOD /path`` of every operation in the app's OpenAPI document."""
    paths = app.openapi()["paths"]
    return {f"{m.upper()} {p}" for p, ops in paths.items() for m in ops if m in METHODS}


def _has_inputs(operation: APIOperation) -> bool:
    return any(True for _ in operation.iter_parameters()) or bool(operation.body)


def _cases(operation: APIOperation, ids: list[str], mode: GenerationMode) -> st.SearchStrategy:
    """Requests to random ids, and as many to the escalations ``ids``."""
    random_ids = operation.as_strategy(generation_mode=mode)
    if not ids:
        return random_ids
    existing = [
        operation.as_strategy(generation_mode=mode, path_parameters={"escalation_id": i})
        for i in ids
    ]
    return st.one_of(random_ids, st.one_of(existing))


def _fuzz(operation: APIOperation, target: Target, mode: GenerationMode) -> int:
    """Runs the operation's examples; returns how many were answered and checked."""
    # Each operation gets escalations of its own: those an earlier one closed would only 409.
    ids = _seed(target.app, target.auth) if "{escalation_id}" in operation.path else []
    answered = 0

    @FUZZ
    @given(case=_cases(operation, ids, mode), known_agent=st.booleans())
    def run(case: Case, known_agent: bool) -> None:
        nonlocal answered
        positive = mode is GenerationMode.POSITIVE
        if positive and known_agent and isinstance(case.body, dict) and "agent" in case.body:
            case.body["agent"] = AGENT
        case.call_and_validate(headers=target.auth, checks=CHECKS)
        answered += 1

    run()
    return answered


# Valid requests reach the database, so they run on both; invalid ones are refused before it.
@pytest.mark.parametrize(
    ("database_url", "mode"),
    [
        ("sqlite", GenerationMode.POSITIVE),
        pytest.param("postgres", GenerationMode.POSITIVE, marks=pytest.mark.postgres),
        ("sqlite", GenerationMode.NEGATIVE),
    ],
    indirect=["database_url"],
    ids=["valid-sqlite", "valid-postgres", "invalid-sqlite"],
)
def test_every_operation_answers_as_documented(target: Target, mode: GenerationMode) -> None:
    answered: dict[str, int] = {}
    failures: dict[str, str] = {}
    for result in target.schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
            answered[operation.label] = 0  # nothing to make invalid
            continue
        try:
            answered[operation.label] = _fuzz(operation, target, mode)
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = str(exc)
    assert not failures, "\n\n".join(f"== {op}\n{report}" for op, report in failures.items())
    assert set(answered) == _documented(target.app)
    with_inputs = {r.ok().label for r in target.schema.get_all_operations() if _has_inputs(r.ok())}
    # Hypothesis runs fewer only when it has tried every possible request.
    assert all(answered[label] >= FUZZ.max_examples for label in with_inputs), answered


def _unsigned(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """What a stranger might post to /slack/events: any body, a wrong or missing signature."""
    payload = st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4)
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            payload.map(lambda p: json.dumps({"type": "event_callback", "event": p}).encode()),
            payload.map(lambda p: b"payload=" + json.dumps(p).encode()),
            st.just(b'{"type": "url_verification", "challenge": "x"}'),
        )
    )
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "text/plain"]))}
    ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
    now = int(time.time())
    stamp = st.one_of(st.sampled_from([now, now - 3600]).map(str), ascii_text)
    signature = st.one_of(
        st.binary(min_size=32, max_size=32).map(lambda b: "v0=" + b.hex()), ascii_text
    )
    for name, value in (("X-Slack-Request-Timestamp", stamp), ("X-Slack-Signature", signature)):
        if draw(st.booleans()):
            headers[name] = draw(value)
    return body, headers


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_requests_slack_did_not_sign_are_refused(
    database_url: str, served: Callable[[Settings], FastAPI]
) -> None:
    with running_standin() as slack:
        app = served(
            make_settings(
                database_url,
                slack_bot_token=slack.token,
                slack_signing_secret=SIGNING_SECRET,
                slack_api_url=slack.url,
                escalation_channel=CHANNEL,
            )
        )
        answers: list[int] = []

        @FUZZ
        @given(request=st.composite(_unsigned)())
        def post(request: tuple[bytes, dict[str, Any]]) -> None:
            body, headers = request
            with asgi.get_client(app) as client:
                response = client.post("/slack/events", data=body, headers=headers)
            answers.append(response.status_code)
            assert response.status_code == 401, response.text

        post()
        assert len(answers) >= FUZZ.max_examples
        assert slack.calls == []  # nothing reached Slack on a stranger's behalf
