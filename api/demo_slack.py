"""What Slack sends to Baton's ``POST /slack/events`` when people act in the demo's
stand-in workspace: the same payload shapes, signed exactly as Slack signs them
(``v0:{timestamp}:{body}``, HMAC-SHA256 with the signing secret; shared/slack/FACTS.md §1-2).
"""

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.standin import APP, BOT_USER, TEAM, StandIn, StoredMessage

SLACK_TIMEOUT = 3.0  # Slack gives up on an app's answer after three seconds


class SlackRequestFailed(Exception):
    pass


class SlackPeople:
    """People clicking and writing in the stand-in, and Slack telling Baton about it."""

    def __init__(self, standin: StandIn, signing_secret: str, baton_url: str) -> None:
        self.standin = standin
        self.verifier = SignatureVerifier(signing_secret)
        self.events_url = baton_url.rstrip("/") + "/slack/events"

    def click(self, message: StoredMessage, user: str, action_id: str) -> None:
        """``user`` clicks the button ``action_id`` on ``message``."""
        button = _button(message, action_id)
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "api_app_id": APP,
            "token": "verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{int(time.time() * 1000)}.1379717998065.{uuid.uuid4().hex}",
            "team": {"id": TEAM, "domain": "demo"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": message.channel.lower()},
            "message": message.as_dict(),
            "state": {"values": {}},
            # Nothing on the internet: a respond() lands on the stand-in.
            "response_url": f"{self.standin.url}response/{uuid.uuid4().hex}",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": button["block_id"],
                    "text": button.get("text", {}),
                    "value": button.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        self._send(body, "application/x-www-form-urlencoded", f"{user}'s click")

    def say(self, channel: str, thread_ts: str, user: str, text: str) -> StoredMessage:
        """``user`` writes ``text`` in a thread; Slack stores it and sends the event."""
        message = self.standin.post_as_user(channel, user, text, thread_ts)
        event = {
            "type": "message",
            "user": user,
            "client_msg_id": message.client_msg_id,
            "team": TEAM,
            "text": text,
            "blocks": message.blocks,
            "ts": message.ts,
            "thread_ts": thread_ts,
            "parent_user_id": message.parent_user_id or BOT_USER,
            "channel": channel,
            "event_ts": message.ts,
            "channel_type": "channel",
        }
        wrapper = {
            "token": "verification-token",
            "team_id": TEAM,
            "api_app_id": APP,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(float(message.ts)),
            "authorizations": [
                {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "enterprise_id": None}
            ],
            "is_ext_shared_channel": False,
        }
        self._send(json.dumps(wrapper), "application/json", f"{user}'s message event")
        return message

    def _send(self, body: str, content_type: str, what: str) -> None:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=stamp, body=body),
        }
        try:
            response = httpx.post(
                self.events_url,
                content=body.encode(),
                headers=headers,
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


def _button(message: StoredMessage, action_id: str) -> dict[str, Any]:
    for block in message.blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return {**element, "block_id": block.get("block_id", "")}
    raise SlackRequestFailed(f"the message has no {action_id!r} button")
