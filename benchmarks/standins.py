"""Slack and the platform in a process of their own, so a benchmark can pin them to a core
other than Baton's and keep them out of its own interpreter.

The child runs ``stack.slack_standin`` and ``stack.Platform`` and takes one command a line
on standard input, answering each with one JSON line: ``secret WHSEC`` (the webhook secret
Baton gave the platform at registration) and ``counts``. End of input stops it.

    python benchmarks/standins.py CHANNEL [CHANNEL ...]
"""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stack import Platform, TimedSlack, slack_standin  # noqa: E402


@dataclass(frozen=True)
class Counts:
    """What Slack and the platform got so far."""

    cards: int  # escalations with a card posted
    posts: int  # every chat.postMessage answered with ok (cards and thread replies)
    events: int  # escalations whose escalation.created the platform accepted
    rejected: int  # events whose signature did not verify


class StandIns:
    """The parent's handle on the child process."""

    def __init__(self, channels: list[str], cpus: str | None = None) -> None:
        command = [sys.executable, __file__, *channels]
        if cpus is not None:
            command = ["taskset", "-c", cpus, *command]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.pid = self._process.pid
        started = self._answer()
        self.slack_url: str = started["slack_url"]
        self.slack_token: str = started["slack_token"]
        self.platform_url: str = started["platform_url"]

    def set_secret(self, secret: str) -> None:
        self._ask(f"secret {secret}")

    def counts(self) -> Counts:
        return Counts(**self._ask("counts"))

    def stop(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _ask(self, command: str) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        return self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise SystemExit(f"the stand-ins' process ended (exit {self._process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer


def counts(slack: TimedSlack, platform: Platform) -> Counts:
    posted = sum(1 for post in slack.all_posts() if post.ts is not None)
    events = platform.count("escalation.created")
    return Counts(slack.card_count(), posted, events, platform.rejected)


def serve(channels: list[str], commands: IO[str], out: IO[str]) -> None:
    """The child: Slack with ``channels`` (and stack's ``CHANNEL``), and the platform."""
    slack = slack_standin(channels)
    platform = Platform().start()

    def say(answer: dict[str, Any]) -> None:
        out.write(json.dumps(answer) + "\n")
        out.flush()

    say({"slack_url": slack.url, "slack_token": slack.token, "platform_url": platform.url})
    try:
        for line in commands:
            command, _, argument = line.strip().partition(" ")
            if command == "secret":
                platform.secret = argument
                say({})
            elif command == "counts":
                say(vars(counts(slack, platform)))
            else:
                say({"error": f"unknown command {command!r}"})
    finally:
        platform.stop()
        slack.stop()


if __name__ == "__main__":
    serve(sys.argv[1:], sys.stdin, sys.stdout)
