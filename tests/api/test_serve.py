"""`baton serve` as a newcomer runs it: a real process on a fresh SQLite file."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import BATON, clean_env, free_port, register_platform, start_serve, wait_ready


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = clean_env(BATON_ALLOW_PRIVATE_CALLBACKS="true")
    port = free_port()
    server = start_serve(tmp_path, port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server)
        yield base, env
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_migrates_a_fresh_database_and_takes_escalations(
    served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, env = served
    key = register_platform("http://127.0.0.1:9/hook", env, cwd=tmp_path)["api_key"]
    response = httpx.post(
        f"{base}/v1/escalations",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "conversation_id": "conv_1",
            "reason": "customer_request",
            "customer": {"id": "cust_1", "name": "Ann"},
        },
    )
    assert response.status_code == 201
    assert response.json()["status"] == "queued"
    assert (tmp_path / "baton.db").exists()


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "BATON_ESCALATION_CHANNEL"),
    ],
)
def test_serve_refuses_half_configured_slack(
    tmp_path: Path, settings: dict[str, str], named: str
) -> None:
    result = subprocess.run(
        [BATON, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert named in result.stderr + result.stdout


def test_slack_endpoint_without_slack_says_so(served: tuple[str, dict[str, str]]) -> None:
    base, _ = served
    response = httpx.post(f"{base}/slack/events", content=b"{}")
    assert response.status_code == 404
    assert "SLACK_BOT_TOKEN" in response.json()["error"]["message"]
