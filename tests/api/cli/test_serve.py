"""`baton serve` as a newcomer runs it: a real process on a fresh SQLite file."""

import itertools
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import psutil
import pytest

from api.demo.slack_standin import StandIn
from tests.bot.conftest import CHANNEL, MANAGERS, SIGNING_SECRET, running_standin
from tests.conftest import TEST_SECRET_KEY, escalation_body, fresh_pg_database
from tests.processes import BATON, clean_env, free_port, register_platform, start_serve, wait_ready

HOOK_SECRET = "whsec_" + "QUJD" * 8  # 24 bytes in base64
NOTIFICATIONS = f"""
[[notifications]]
kind = "webhook"
events = ["escalation.created"]
url = "https://ops.acme.example/baton"
secret = "{HOOK_SECRET}"

[[notifications]]
kind = "webhook"
events = ["sla.breached"]
url = "https://pager.acme.example/baton"
secret = "{HOOK_SECRET}"

[[notifications]]
kind = "slack"
events = ["sla.breached"]
channel = "{MANAGERS}"
"""


@pytest.fixture
def slack() -> Iterator[StandIn]:
    with running_standin() as server:
        yield server


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
    assert result.returncode == 2
    assert named in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_serve_without_slack_says_loudly_that_cards_wait(
    served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, _ = served
    banner = _banner((tmp_path / "serve.log").read_text())
    assert banner == [
        f"Baton {version('baton')} serving on {base}",
        "  database      sqlite:///baton.db",
        "  Slack         off",
        "  channels      none (Slack is off)",
        "  notifications none",
        f"  API docs      {base}/docs",
        "warning: Slack is off (SLACK_BOT_TOKEN is not set): escalations are accepted, but "
        "their cards wait until Slack is configured and Baton restarted.",
    ]


def test_serve_says_what_it_serves_and_libraries_stay_quiet(tmp_path: Path, slack: StandIn) -> None:
    config = tmp_path / "baton.toml"
    config.write_text(NOTIFICATIONS)
    env = clean_env(
        SLACK_BOT_TOKEN=slack.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        BATON_SLACK_API_URL=slack.url,
        BATON_ESCALATION_CHANNEL=CHANNEL,
        BATON_MANAGERS_CHANNEL=MANAGERS,
        BATON_CONFIG=str(config),
        BATON_DATABASE_URL=f"sqlite:///{tmp_path}/served.db",
        COLUMNS="80",  # a narrow terminal: each line stays whole in the log
    )
    port = free_port()
    server = start_serve(tmp_path, port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server)
        # The timed jobs and the workers have started, and logged what they log at start.
        httpx.get(f"{base}/readyz")
    finally:
        server.terminate()
        server.wait(timeout=10)
    log = (tmp_path / "serve.log").read_text()
    assert _banner(log) == [
        f"Baton {version('baton')} serving on {base}",
        f"  database      sqlite:///{tmp_path}/served.db",
        "  Slack         HTTP: Slack's requests go to https://YOUR-HOST/slack/events "
        f"({base}/slack/events here), checked with SLACK_SIGNING_SECRET",
        f"  channels      escalations {CHANNEL}; managers {MANAGERS}",
        "  notifications 1 slack, 2 webhook",
        f"  API docs      {base}/docs",
    ]
    for library in ("apscheduler", "alembic", "slack_bolt", "httpx"):
        assert f" INFO {library}" not in log, log
    assert "will be unused" not in log
    assert "Traceback" not in log


def _banner(log: str) -> list[str]:
    """The lines before the server's own log lines."""
    return list(itertools.takewhile(lambda line: not line[:1].isdigit(), log.splitlines()))


def test_slack_endpoint_without_slack_says_so(served: tuple[str, dict[str, str]]) -> None:
    base, _ = served
    response = httpx.post(f"{base}/slack/events", content=b"{}")
    assert response.status_code == 404
    assert "SLACK_BOT_TOKEN" in response.json()["error"]["message"]


def test_serve_refuses_worker_processes_on_sqlite(tmp_path: Path) -> None:
    result = subprocess.run(
        [BATON, "serve", "--port", str(free_port()), "--workers", "2"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers needs PostgreSQL" in result.stderr
    assert not (tmp_path / "baton.db").exists()


@pytest.mark.postgres
def test_serve_with_worker_processes_on_postgresql_takes_escalations_and_stops(
    tmp_path: Path,
) -> None:
    with fresh_pg_database("baton_workers") as url:
        env = clean_env(
            BATON_DATABASE_URL=url,
            BATON_SECRET_KEY=TEST_SECRET_KEY,
            BATON_ALLOW_PRIVATE_CALLBACKS="true",
        )
        key = register_platform("http://127.0.0.1:9/hook", env, cwd=tmp_path)["api_key"]
        port = free_port()
        with (tmp_path / "serve.log").open("a") as log:
            server = subprocess.Popen(
                [BATON, "serve", "--port", str(port), "--workers", "2", "--no-scheduler"],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, server, seconds=60)  # each worker process starts on its own
            processes = psutil.Process(server.pid).children(recursive=True)
            auth = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=auth) as client:
                answers = [
                    client.post("/v1/escalations", json=escalation_body(conversation_id=f"c{i}"))
                    for i in range(20)
                ]
                listed = client.get("/v1/escalations", params={"limit": 100}).json()
        finally:
            server.terminate()
            server.wait(timeout=30)
        assert [a.status_code for a in answers] == [201] * 20
        assert len(listed["data"]) == 20
        # Every worker (and multiprocessing's helper) goes with the server, promptly.
        _, alive = psutil.wait_procs(processes, timeout=10)
        assert alive == []
