"""`baton serve` as a newcomer runs it: a real process on a fresh SQLite file."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BATON = Path(sys.executable).parent / "baton"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "SLACK_"))},
        "BATON_ALLOW_PRIVATE_CALLBACKS": "true",
    }
    port = _free_port()
    server = subprocess.Popen(
        [BATON, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"baton serve did not start:\n{server.stdout.read()}")
            time.sleep(0.1)
        yield base, env
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_migrates_a_fresh_database_and_takes_escalations(
    served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, env = served
    added = subprocess.run(
        [BATON, "platforms", "add", "acme", "--callback-url", "http://127.0.0.1:9/hook", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(added.stdout)["api_key"]
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
