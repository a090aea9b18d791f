"""What Slack sends to Baton's ``POST /slack/events`` when people act in the demo's
stand-in workspace: the requests of api/demo/slack_requests.py, signed exactly as Slack signs them
(``v0:{timestamp}:{body}``, HMAC-SHA256 with the signing secret; shared/slack/FACTS.md §1-2).
"""

import httpx

from api.demo.slack_requests import SlackRequest, SlackSigner
from api.demo.slack_standin import StandIn, StoredMessage
from bot.manifest import EVENTS_PATH

SLACK_TIMEOUT = 3.0  # Slack gives up on an app's answer after three seconds


class SlackRequestFailed(Exception):
    pass


class SlackPeople:
    """People clicking and writing in the stand-in, and Slack telling Baton about it."""

    def __init__(self, standin: StandIn, signing_secret: str, baton_url: str) -> None:
        self.standin = standin
        self.signer = SlackSigner(signing_secret)
        self.signer.team_domain = "demo"
        # Nothing on the internet: a respond() lands on the stand-in.
        self.signer.response_url_base = standin.url.rstrip("/")
        self.events_url = baton_url.rstrip("/") + EVENTS_PATH

    def click(self, message: StoredMessage, user: str, action_id: str) -> None:
        """``user`` clicks the button ``action_id`` on ``message``."""
        try:
            request = self.signer.block_action_on(message, user=user, action_id=action_id)
        except ValueError:
            raise SlackRequestFailed(f"the message has no {action_id!r} button") from None
        self._send(request, f"{user}'s click")

    def say(self, channel: str, thread_ts: str, user: str, text: str) -> StoredMessage:
        """``user`` writes ``text`` in a thread; Slack stores it and sends the event."""
        message = self.standin.post_as_user(channel, user, text, thread_ts)
        self._send(self.signer.message_event_for(message), f"{user}'s message event")
        return message

    def share(
        self, channel: str, thread_ts: str, user: str, name: str, content: bytes, text: str = ""
    ) -> StoredMessage:
        """``user`` shares a file in a thread, with or without words; Slack sends the event."""
        message = self.standin.post_file_as_user(
            channel, user, name, content, thread_ts=thread_ts, text=text
        )
        self._send(self.signer.message_event_for(message), f"{user}'s file share event")
        return message

    def _send(self, request: SlackRequest, what: str) -> None:
        try:
            response = httpx.post(
                self.events_url,
                content=request.body.encode(),
                headers=request.headers,
                timeout=SLACK_TIMEOUT,
                trust_env=False,
            )
        except httpx.TimeoutException:
            raise SlackRequestFailed(
                f"Baton did not answer {what} within Slack's {SLACK_TIMEOUT:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise SlackRequestFailed(f"could not send {what} to Baton: {exc}") from None
        if response.status_code != 200:
            raise SlackRequestFailed(
                f"Baton answered {what} with HTTP {response.status_code}: {response.text[:200]}"
            )
