"""Running `baton` as real processes, as a user would."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BATON = Path(sys.executable).parent / "baton"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any Baton or Slack setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "SLACK_"))}
    return {**env, **extra}


def start_serve(workdir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    """``baton serve`` in ``workdir``, its output appended to ``workdir/serve.log`` (a file,
    not a pipe, so a chatty server never blocks on a full pipe)."""
    with (workdir / "serve.log").open("a") as log:
        return subprocess.Popen(
            [BATON, "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def wait_ready(base: str, server: subprocess.Popen[str], seconds: float = 20) -> None:
    """Until ``/readyz`` answers 200; fails if the server exits or stalls."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"baton serve exited with {server.returncode}; its output is in serve.log"
            )
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("baton serve did not become ready")


def register_platform(
    callback_url: str, env: dict[str, str], cwd: Path | None = None
) -> dict[str, str]:
    """``baton platforms add acme --json``: the platform, its API key and webhook secret."""
    added = subprocess.run(
        [BATON, "platforms", "add", "acme", "--callback-url", callback_url, "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    credentials: dict[str, str] = json.loads(added.stdout)
    return credentials
