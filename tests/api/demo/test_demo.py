"""`baton demo` as a newcomer runs it: a subprocess in a fresh directory, with nothing set
up; every step must complete, and a broken platform must stop it with a clear message."""

import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.processes import BATON, clean_env

STEPS = [
    "1. A platform escalates a conversation",
    "2. The card appears in Slack",
    "3. Minh clicks Take",
    "4. Minh replies in the thread",
    "5. Minh shares a screenshot",
    "6. The customer writes back, with a photo",
    "7. Minh returns the conversation to the bot",
]
EVENTS = [
    "escalation.created",
    "escalation.taken",
    "escalation.message",
    "escalation.message",
    "escalation.returned",
]


def demo(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    scratch = cwd.with_name(cwd.name + "-tmp")  # for the demo's temporary files
    scratch.mkdir(exist_ok=True)
    return subprocess.run(
        [BATON, "demo", *args],
        cwd=cwd,
        # A wide terminal: no wrapped lines.
        env={**(env or clean_env()), "COLUMNS": "400", "TMPDIR": str(scratch)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_demo_walks_the_whole_lifecycle(tmp_path: Path) -> None:
    # Settings for a real installation must not send the demo anywhere else.
    env = clean_env(
        SLACK_BOT_TOKEN="xoxb-someone-elses",
        SLACK_APP_TOKEN="xapp-someone-elses",
        BATON_SLACK_API_URL="http://127.0.0.1:9/api/",
        BATON_CONFIG=str(tmp_path / "missing.toml"),
    )
    result = demo(tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for step in STEPS:
        assert any(line.startswith(f"✓ {step} (") and line.endswith("s)") for line in lines), step
    for event in EVENTS:
        assert f"platform ← {event} (signature verified)" in result.stdout
    assert "POST /v1/escalations → 201" in result.stdout
    # Files both ways: the screenshot's link gives its bytes; the photo is in the thread.
    assert "GET the link, no credentials → 200: the same" in result.stdout
    assert "files.completeUploadExternal: bank-statement.png" in result.stdout
    assert "Hi, I'm Minh." in result.stdout
    assert 'the customer receives: "Hi Lan, I can see the double charge' in result.stdout
    assert "reactions.add ✅ on Minh's reply: it reached the customer" in result.stdout
    assert "Returned to the bot by @Minh" in result.stdout
    # Each message's Block Kit Builder link (2,000 characters and more) is in a file of its
    # own; the terminal gets a line a person can use.
    assert all(len(line) < 400 for line in lines)
    shown = [line for line in lines if line.startswith("   Block Kit Builder: link ")]
    assert len(shown) >= 5
    assert shown[0] == "   Block Kit Builder: link 1 in the links file"
    [intro] = [line for line in lines if line.startswith("  links     file://")]
    page = Path(urlparse(intro.split()[1]).path).read_text()
    assert page.count('<a href="https://app.slack.com/block-kit-builder/#') == len(shown)
    assert "every signature verified" in result.stdout
    assert list(tmp_path.iterdir()) == []  # the temporary database is gone


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("wrong-secret", "with HTTP 401: signature did not verify"),
        ("down", "with HTTP 503: the platform is down"),
    ],
)
def test_a_broken_platform_stops_the_demo_with_the_reason(
    tmp_path: Path, fault: str, said: str
) -> None:
    result = demo(tmp_path, "--break-platform", fault, "--timeout", "2")
    assert result.returncode == 1
    error = " ".join(result.stderr.split())
    assert error.startswith(
        "error: step 1 (A platform escalates a conversation) failed: "
        "the platform did not accept escalation.created within 2s"
    ), error
    assert said in error
    assert "✓ 1." not in result.stdout
    assert "Traceback" not in result.stderr


def test_a_kept_database_holds_the_demo_and_runs_again(tmp_path: Path) -> None:
    for _ in range(2):  # the second run registers its platform under a fresh name
        result = demo(tmp_path, "--db", "kept.db")
        assert result.returncode == 0, result.stdout + result.stderr
    assert "(kept)" in result.stdout
    listed = subprocess.run(
        [BATON, "deliveries", "list"],
        cwd=tmp_path,
        env=clean_env(BATON_DATABASE_URL="sqlite:///kept.db"),
        capture_output=True,
        text=True,
        check=True,
    )
    done = [line for line in listed.stdout.splitlines()[1:] if "\tdone\t" in line]
    assert len(done) == 2 * len(EVENTS)


def test_step_mode_waits_for_enter_between_steps(tmp_path: Path) -> None:
    result = demo(tmp_path, "--step", stdin="\n" * (len(STEPS) - 1))
    assert result.returncode == 0, result.stdout + result.stderr
    for number, step in enumerate(STEPS[1:], start=2):
        assert f"Press Enter for step {number}: {step.split('. ', 1)[1]}" in result.stdout


def test_a_malformed_secret_key_stops_the_demo_with_a_message(tmp_path: Path) -> None:
    result = demo(tmp_path, "--db", "kept.db", env=clean_env(BATON_SECRET_KEY="notakey"))
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert "the secret key must be 32 url-safe base64-encoded bytes" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.stderr
