"""Every command the README shows, run as a reader runs it.

The README's ```sh blocks are read in order and each command goes to bash in one temporary
directory that stands for the reader's clone (its ``.venv`` is this test environment), with a
clean environment, like one terminal session: ``export`` and ``.`` carry over, ``baton
serve``, ``baton scheduler`` and ``baton relay`` keep running in the background, once ready,
until the end (a new ``baton serve`` replaces the one before). Where the README leaves
something for the reader to fill in (``NAME=…``, the platform's callback URL, port 8000),
the test puts its own stand-ins (``Session.fill_in``): Slack is
``api.demo.slack_standin.StandIn``, the platform a receiver that verifies every signature,
PostgreSQL an empty database of this test's own. Each command must be known to ``CHECKS``,
which says what it must show; a command the README gains without a check here fails the
test. Commands that depend on nothing after them run beside the next ones (``meanwhile``),
to keep the test fast.

The first two commands (a new virtual environment, an install, then the demo or the suite)
are too slow to repeat inside the suite: they are checked to be the demo command and exactly
the command ``.ci/run`` runs, and the demo is run from this environment.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.config import parse_config
from api.demo.slack_standin import BOT_USER, StandIn
from api.settings import Settings
from tests.conftest import fresh_pg_database
from tests.processes import BATON, clean_env, free_port, wait_ready
from tests.receiver import Receiver
from tests.slack_requests import SlackSigner

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
VENV = BATON.parent.parent
CHANNEL, MANAGERS = "C0ESCALATE", "C0MANAGERS"
CALLBACK = "https://bots.acme.example/baton"  # the README's platform
DEMO_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/baton demo"
DEMO_STEPS = [
    "✓ 1. A platform escalates a conversation",
    "✓ 2. The card appears in Slack",
    "✓ 3. Minh clicks Take",
    "✓ 4. Minh replies in the thread",
    "✓ 5. Minh shares a screenshot",
    "✓ 6. The customer writes back, with a photo",
    "✓ 7. Minh returns the conversation to the bot",
]
WAIT = 20.0  # seconds any one effect may take to show


def sh_commands(markdown: str) -> list[str]:
    """The commands of every ```sh block, in order; a command goes on over lines ending in a
    backslash and over a quote left open."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", markdown, re.S | re.M):
        pending = ""
        for line in block.splitlines():
            pending = f"{pending}\n{line}" if pending else line
            if pending.endswith("\\"):
                continue
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # a quote still open
                continue
            if pending.strip():
                commands.append(pending.strip())
            pending = ""
        assert not pending, f"an unfinished command in the README: {pending}"
    return commands


def ci_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    [command] = [line for line in lines if ".venv/bin/python -m pytest" in line]
    return command


def poll(what: str, found: Callable[[], Any], seconds: float = WAIT) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not seen within {seconds:.0f}s: {what}")


# --------------------------------------------------------------------------- the session

Check = Callable[["Session", str], Any]


@dataclass
class Background:
    command: str
    process: subprocess.Popen[str]
    log: Path
    stopped: bool = False

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Session:
    """One reader's terminal: a working directory, its environment, what runs behind it."""

    cwd: Path
    env: dict[str, str]
    slack: StandIn
    platform: Receiver
    placeholders: dict[str, str]
    port: int = 0
    background: list[Background] = field(default_factory=list)
    aside: list[Future[Any]] = field(default_factory=list)
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2))

    def fill_in(self, command: str) -> str:
        """The README's command with this machine's stand-ins in the reader's places."""

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in self.placeholders, f"no stand-in for {name} in {command!r}"
            return f"{name}={shlex.quote(self.placeholders[name])}"

        command = re.sub(r"\b([A-Z][A-Z0-9_]*)=\S*…\S*", value, command)
        command = command.replace(CALLBACK, self.platform.url)
        if re.search(r"\bbaton serve\b", command):  # a port of this test's own
            self.port = free_port()
            if "--port" in command:
                command = re.sub(r"--port \d+", f"--port {self.port}", command)
            else:
                command = command.replace("baton serve", f"baton serve --port {self.port}")
        return command.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        """A command that ends; Enter is pressed as often as it asks."""
        return subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            input="\n" * 20,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def source(self, command: str) -> None:
        """``export …`` or ``. …``: what it sets stays for the next commands."""
        result = self.run(f"{command}\nenv -0")
        assert result.returncode == 0, result.stderr
        self.env = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)

    def start(self, command: str) -> Background:
        """A command that runs until stopped, its output in a file of its own."""
        log = self.cwd / f"background-{len(self.background)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # stopped with everything it started
            )
        started = Background(command, process, log)
        self.background.append(started)
        return started

    def stop_all(self, which: Callable[[Background], bool] = lambda _: True) -> None:
        jobs = [job for job in self.background if which(job) and job.process.poll() is None]
        for job in jobs:
            job.stopped = True
            os.killpg(job.process.pid, signal.SIGTERM)
        for job in jobs:
            try:
                job.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(job.process.pid, signal.SIGKILL)
                job.process.wait()


def ok(*expected: str, code: int = 0) -> Check:
    """Run it; it exits with ``code`` and its output holds each of ``expected``."""

    def check(session: Session, command: str) -> subprocess.CompletedProcess[str]:
        result = session.run(command)
        said = " ".join((result.stdout + result.stderr).split())
        assert result.returncode == code, f"{command}\nexit {result.returncode}:\n{said}"
        assert "Traceback" not in result.stderr, result.stderr
        for text in expected:
            assert text in said, f"{command}: no {text!r} in:\n{said}"
        return result

    return check


def meanwhile(check: Check) -> Check:
    """A command that depends on nothing before it: run beside the next ones, to save time;
    the test waits for it at the end."""

    def aside(session: Session, command: str) -> None:
        # In the terminal as it is now: what later commands set does not reach it.
        now = replace(session, env=dict(session.env))
        session.aside.append(session.pool.submit(check, now, command))

    return aside


def sets_environment(session: Session, command: str) -> None:
    session.source(command)


def activates(session: Session, command: str) -> None:
    session.source(command)
    assert session.env["VIRTUAL_ENV"] == str(VENV)
    assert Path(session.run("command -v baton").stdout.strip()) == BATON


def demo_kept_and_stepped(session: Session, command: str) -> None:
    ok(*DEMO_STEPS, "Press Enter for step 2", "(kept)")(session, command)
    assert (session.cwd / "demo.db").exists()


def serves(session: Session, command: str) -> None:
    """A new ``baton serve`` takes over from the one before, as in a reader's terminal."""
    session.stop_all(lambda job: "baton serve" in job.command)
    server = session.start(command)
    try:
        wait_ready(session.base, server.process)
    except AssertionError as exc:
        raise AssertionError(f"{command}: {exc}\n{server.output()}") from None
    if "SLACK_APP_TOKEN=" in command:  # Socket Mode: Baton calls Slack, not the other way
        poll(
            "apps.connections.open with the app-level token",
            lambda: any(c.method == "apps.connections.open" for c in session.slack.calls),
        )
    elif "SLACK_SIGNING_SECRET" in session.env:  # HTTP mode: Slack's requests are checked
        signer = SlackSigner(session.env["SLACK_SIGNING_SECRET"])
        challenge = signer.url_verification("a-challenge")
        answer = httpx.post(
            f"{session.base}/slack/events", content=challenge.body, headers=challenge.headers
        )
        assert answer.status_code == 200, answer.text
        assert "a-challenge" in answer.text
        forged = httpx.post(
            f"{session.base}/slack/events",
            content=challenge.body,
            headers={**challenge.headers, "X-Slack-Signature": "v0=" + "0" * 64},
        )
        assert forged.status_code == 401


def registers(session: Session, command: str) -> None:
    result = ok("Registered platform acme", "Store these now")(session, command)
    printed = dict(re.findall(r"^\s*(API key|webhook secret):\s+(\S+)$", result.stdout, re.M))
    # What the reader does next: the platform gets the secret, the key goes in BATON_API_KEY.
    session.platform.secret = printed["webhook secret"]
    session.env["BATON_API_KEY"] = printed["API key"]


def rotates(session: Session, command: str) -> None:
    result = ok("New credentials for acme; the old API key is revoked.")(session, command)
    [key] = re.findall(r"^\s*API key:\s+(\S+)$", result.stdout, re.M)
    session.env["BATON_API_KEY"] = key  # what the reader does next


def moves_the_callback(session: Session, command: str) -> None:
    """The README's new address is the platform stand-in here too."""
    moved = re.sub(r"https://\S+", session.platform.url, command)
    ok(f"Events for acme go to {session.platform.url}")(session, moved)


def removes_a_platform(session: Session, command: str) -> None:
    """The README removes a platform of its own, registered here first."""
    name = command.split()[3]  # baton platforms remove NAME
    ok()(session, f"baton platforms add {name} --callback-url {session.platform.url}")
    ok(f"Removed platform {name}: its API key no longer works")(session, command)
    listed = ok()(session, "baton platforms list").stdout
    assert f"{name}\tremoved\t" in listed, listed


def escalates(session: Session, command: str) -> None:
    result = session.run(command)
    assert result.returncode == 0, result.stderr
    escalation = json.loads(result.stdout)
    assert escalation["status"] == "queued", escalation
    card = poll(
        "the card in the escalation channel",
        lambda: [
            m
            for m in session.slack.top_level(CHANNEL)
            if escalation["id"] in json.dumps(m.metadata or {})
        ],
    )
    assert len(card) == 1
    created = poll(
        "escalation.created at the platform, its signature verified",
        lambda: [
            r
            for r in session.platform.delivered()
            if r.body["data"]["escalation_id"] == escalation["id"]
            and r.body["type"] == "escalation.created"
        ],
    )[0]
    assert created.body["data"]["customer_message"].startswith("Mình")  # the customer's locale


def keeps_the_key(session: Session, command: str) -> None:
    key = ok()(session, command).stdout.strip()
    assert len(key) == 44, key
    session.placeholders["BATON_SECRET_KEY"] = key  # the reader pastes it in


def runs_in_background(ready: str) -> Check:
    """A worker with no port: ready once its log says ``ready``, and still running."""

    def check(session: Session, command: str) -> None:
        job = session.start(command)
        poll(f"{ready!r} from {command}", lambda: ready in job.output())
        assert job.process.poll() is None, job.output()

    return check


# Every command in the README, and what running it must show.
CHECKS: dict[str, Check] = {
    ". .venv/bin/activate": activates,
    "baton demo --step --db demo.db": meanwhile(demo_kept_and_stepped),
    "baton demo --break-platform wrong-secret --timeout 3": meanwhile(
        ok(
            "error: step 1 (A platform escalates a conversation) failed",
            "signature did not verify",
            code=1,
        )
    ),
    "baton manifest --url https://baton.example.com": meanwhile(
        ok("request_url: https://baton.example.com/slack/events")
    ),
    "baton manifest --socket-mode": meanwhile(ok("socket_mode_enabled: true")),
    "export SLACK_BOT_TOKEN=": sets_environment,
    "baton --version": meanwhile(ok(f"baton {version('baton')}")),
    "export BATON_ESCALATION_CHANNEL=": sets_environment,
    "SLACK_APP_TOKEN=xapp-… baton serve": serves,
    "baton serve --host 0.0.0.0 --port 8000": serves,
    "baton platforms add acme --callback-url": registers,
    "baton platforms list": meanwhile(ok("name key callback URL id registered", "acme")),
    "curl -sS -X POST http://127.0.0.1:8000/v1/escalations": escalates,
    "baton platforms rotate-key acme": rotates,
    "baton platforms set-callback acme": moves_the_callback,
    "baton platforms remove": removes_a_platform,
    "baton doctor": meanwhile(
        ok("✓ platform acme", "✓ Slack scopes all 13", "All 11 checks passed.")
    ),
    "baton deliveries list --failed": meanwhile(
        ok("id event type escalation state attempts created next attempt last error")
    ),
    "baton deliveries list --slack --failed": meanwhile(ok("id event type escalation state")),
    "baton deliveries list --notifications --failed": meanwhile(
        ok("id event type escalation state")
    ),
    "baton deliveries replay --all-failed": meanwhile(ok("Queued 0 parked deliveries again.")),
    "baton digest --dry-run": meanwhile(ok("Still waiting", "Nguyen Van A")),
    "baton digest --now --date 2026-11-23": meanwhile(
        ok(f"Posted the digest of 2026-11-23 to {MANAGERS}")
    ),
    "python3 -c 'import base64, os;": keeps_the_key,
    "export BATON_DATABASE_URL=postgresql://": sets_environment,
    "baton db upgrade": ok("Upgraded the schema from empty to"),
    "baton serve --host 0.0.0.0 --port 8000 --no-scheduler": serves,
    "baton scheduler": runs_in_background("Baton scheduler: running the timed jobs"),
    "baton relay": runs_in_background("Baton relay: delivering events to platforms"),
}


def check_for(command: str) -> Check:
    """The check for a command: by its whole text (comments aside), else by its start."""
    bare = command.split("  #")[0].strip()
    if bare in CHECKS:
        return CHECKS[bare]
    starts = [key for key in CHECKS if bare.startswith(key) and not key.startswith("baton serve")]
    assert len(starts) == 1, f"the README shows {command!r}: say in CHECKS what it must show"
    return CHECKS[starts[0]]


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """An empty PostgreSQL database, as a new installation has."""
    with fresh_pg_database("baton_readme") as url:
        yield url


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A directory standing for the reader's clone, with its virtual environment."""
    (tmp_path / ".venv").symlink_to(VENV, target_is_directory=True)
    return tmp_path


def fresh_environment(**extra: str) -> dict[str, str]:
    """No Baton or Slack settings, and ``baton`` not on the PATH until activated."""
    env = clean_env(COLUMNS="100", **extra)
    paths = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(p for p in paths if Path(p) != BATON.parent)
    env.pop("VIRTUAL_ENV", None)
    return env


# --------------------------------------------------------------------------------- tests


def test_the_first_two_commands_run_the_demo_and_the_suite(clone: Path) -> None:
    first, second = sh_commands(README)[:2]
    assert first == DEMO_COMMAND
    assert second == ci_command()
    demo = first.rsplit(" && ", 1)[1]
    assert demo == ".venv/bin/baton demo"
    result = subprocess.run(
        ["bash", "-c", demo],
        cwd=clone,
        env=fresh_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for step in DEMO_STEPS:
        assert step in result.stdout
    assert "every signature verified" in " ".join(result.stdout.split())
    assert sorted(p.name for p in clone.iterdir()) == [".venv"]  # nothing left behind


def test_every_other_command_runs_as_shown(clone: Path, empty_pg: str) -> None:
    commands = sh_commands(README)[2:]
    checks = [check_for(command) for command in commands]  # every command known, first
    slack = StandIn(channels={CHANNEL: {BOT_USER}, MANAGERS: {BOT_USER}}).start()
    platform = Receiver().start()
    session = Session(
        cwd=clone,
        # Slack is the stand-in, and the platform a receiver on this machine.
        env=fresh_environment(BATON_SLACK_API_URL=slack.url, BATON_ALLOW_PRIVATE_CALLBACKS="true"),
        slack=slack,
        platform=platform,
        placeholders={
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_APP_TOKEN": slack.app_token,
            "BATON_DATABASE_URL": empty_pg,
        },
    )
    try:
        for command, check in zip(commands, checks, strict=True):
            check(session, session.fill_in(command))
        for done in session.aside:
            done.result()
        for job in session.background:  # nothing fell over meanwhile
            assert job.stopped or job.process.poll() is None, (
                f"{job.command} stopped:\n{job.output()}"
            )
    finally:
        session.pool.shutdown(wait=True)
        session.stop_all()
        platform.stop()
        slack.stop()
    for job in session.background:
        if "SLACK_APP_TOKEN=" in job.command:
            continue  # the stand-in opens no websocket: the Socket Mode client logs its retries
        assert "Traceback" not in job.output(), f"{job.command}:\n{job.output()}"


def test_the_configuration_reference_is_complete_and_its_example_loads() -> None:
    variables = {
        name
        for f in Settings.model_fields.values()
        for name in getattr(f.validation_alias, "choices", [])
    }
    assert len(variables) == 13
    for name in variables:
        assert f"| `{name}` |" in README, f"{name} is missing from the README's table"
    for f in Settings.model_fields.values():
        if isinstance(f.default, str):  # the defaults the table can state exactly
            [name] = f.validation_alias.choices  # type: ignore[union-attr]
            assert f"| `{name}` | `{f.default}` |" in README, name
    [example] = re.findall(r"^```toml\n(.*?)^```", README, re.S | re.M)
    config = parse_config(tomllib.loads(example), "README")
    assert config.sla.targets and config.routing and config.templates
    assert {entry.kind for entry in config.notifications} == {"email", "webhook", "slack"}
    assert config.smtp is not None
    for section in ("api", "slack", "sla", "scheduler", "digest"):
        for key in type(getattr(config, section)).model_fields:
            assert f"`{section}.{key}`" in README or f"`{section}.{key}." in README, key
