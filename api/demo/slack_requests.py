"""Requests as Slack sends them to an app's ``POST /slack/events`` (``bot.manifest.EVENTS_PATH``),
signed as Slack signs them: what the stand-in workspace's people send Baton in ``baton demo``,
and what the tests send.

Shapes follow shared/slack/FACTS.md §1-2: events are JSON, interactivity is a form with one
``payload`` field holding URL-encoded JSON, slash commands are flat form fields. Every body is
signed over exactly the bytes sent (``v0:{timestamp}:{body}``, HMAC-SHA256).
"""

import base64
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_sdk.signature import SignatureVerifier

from api.demo.slack_standin import APP, BOT_ID, BOT_USER, TEAM, StoredMessage

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
VERIFICATION_TOKEN = "verification-token"  # the legacy ``token`` field Slack still sends
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass
class SlackRequest:
    body: str  # raw body exactly as sent
    headers: dict[str, str]

    def payload(self) -> dict[str, Any]:
        """The body decoded the way Bolt decodes it."""
        if self.headers["Content-Type"] == JSON:
            payload: dict[str, Any] = json.loads(self.body)
            return payload
        fields = dict(parse_qsl(self.body, keep_blank_values=True))
        return json.loads(fields["payload"]) if "payload" in fields else fields


class SlackSigner:
    """Builds and signs what Slack would send to an app with this signing secret: the
    requests of people acting in a workspace (the stand-in's, in ``baton demo``)."""

    def __init__(self, signing_secret: str, *, team: str = TEAM, app_id: str = APP) -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.team = team
        self.app_id = app_id
        self.team_domain = "acme"
        # Where respond() posts to; nothing listens here unless a test puts a server there.
        self.response_url_base = "http://127.0.0.1:9"
        self.user_names: dict[str, str] = {}
        self.channel_names: dict[str, str] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._last_ts = 0.0

    # ------------------------------------------------------------------------- signing

    def sign(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> SlackRequest:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.verifier.generate_signature(timestamp=stamp, body=body)
        assert signature is not None  # None only without a timestamp
        headers = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        return SlackRequest(body, headers)

    def _json(self, payload: dict[str, Any]) -> SlackRequest:
        return self.sign(json.dumps(payload), JSON)

    def _interactive(self, payload: dict[str, Any]) -> SlackRequest:
        return self.sign(urlencode({"payload": json.dumps(payload)}), FORM)

    # ------------------------------------------------------------------- interactivity

    def block_action(
        self,
        *,
        user: str,
        action_id: str,
        value: str,
        channel: str,
        message_ts: str,
        block_id: str = "card_actions",
        trigger_id: str | None = None,
        action_type: str = "button",
        selected_option_value: str | None = None,
        is_ephemeral: bool = False,
        thread_ts: str | None = None,
        message: dict[str, Any] | None = None,
        action_text: str | None = None,
    ) -> SlackRequest:
        """A click on a message's element. ``message`` is the clicked message as Slack holds
        it (``StoredMessage.as_dict()``); without it a bare bot message stands in."""
        action: dict[str, Any] = {
            "type": action_type,
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": self._now_ts(),
        }
        if action_type == "button":
            label = {"type": "plain_text", "text": action_text or value, "emoji": True}
            action.update(text=label, value=value)
        else:  # overflow and select menus report the chosen option instead of a value
            chosen = value if selected_option_value is None else selected_option_value
            label = {"type": "plain_text", "text": action_text or chosen, "emoji": True}
            action["selected_option"] = {"text": label, "value": chosen}
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": is_ephemeral,
        }
        if thread_ts:
            container["thread_ts"] = thread_ts
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": trigger_id or self._trigger_id(),
            "team": {"id": self.team, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self._channel_name(channel)},
        }
        # Slack sends no message for a click on an ephemeral message.
        if not is_ephemeral:
            payload["message"] = message or self._bare_bot_message(message_ts, thread_ts)
        payload.update(
            state={"values": {}},
            response_url=self._response_url(),
            actions=[action],
        )
        return self._interactive(payload)

    def block_action_on(
        self,
        msg: StoredMessage,
        *,
        user: str,
        action_id: str,
        value: str | None = None,
        selected_option_value: str | None = None,
        trigger_id: str | None = None,
    ) -> SlackRequest:
        """A click on the element ``action_id`` of a stand-in message, as it now stands; for
        an overflow or a select, ``selected_option_value`` names one of its options."""
        for block in msg.blocks:
            for element in block_elements(block):
                if element.get("action_id") == action_id:
                    text = element.get("text")
                    if "options" in element:
                        text = find_option(element, selected_option_value)["text"]
                    return self.block_action(
                        user=user,
                        action_id=action_id,
                        value=value if value is not None else element.get("value", ""),
                        channel=msg.channel,
                        message_ts=msg.ts,
                        block_id=block.get("block_id", ""),
                        trigger_id=trigger_id,
                        action_type=element.get("type", "button"),
                        selected_option_value=selected_option_value,
                        thread_ts=msg.thread_ts,
                        message=msg.as_dict(),
                        action_text=text.get("text") if isinstance(text, dict) else None,
                    )
        raise ValueError(f"no element {action_id!r} in message {msg.ts}")

    # --------------------------------------------------------------------------- events

    def event_callback(
        self, event: dict[str, Any], *, event_id: str | None = None, event_time: int | None = None
    ) -> SlackRequest:
        """Any inner event in the Events API wrapper."""
        return self._json(
            {
                "token": VERIFICATION_TOKEN,
                "team_id": self.team,
                "context_team_id": self.team,
                "context_enterprise_id": None,
                "api_app_id": self.app_id,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or self.new_event_id(),
                "event_time": int(time.time()) if event_time is None else event_time,
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": self.team,
                        "user_id": BOT_USER,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "is_ext_shared_channel": False,
                "event_context": "4-"
                + base64.urlsafe_b64encode(
                    json.dumps({"et": event.get("type"), "tid": self.team}).encode()
                ).decode(),
            }
        )

    def message_event(
        self,
        *,
        user: str,
        channel: str,
        text: str,
        ts: str,
        thread_ts: str | None = None,
        event_id: str | None = None,
        bot_id: str | None = None,
        subtype: str | None = None,
        files: list[dict[str, Any]] | None = None,
        parent_user_id: str = BOT_USER,
    ) -> SlackRequest:
        """A ``message`` event. ``bot_id`` makes it a bot's post (this app's own if BOT_ID);
        ``parent_user_id`` is the thread parent's author, the bot's card by default."""
        event: dict[str, Any] = {"type": "message"}
        if subtype:
            event["subtype"] = subtype
        event.update(self._message_fields(user, text, ts, thread_ts, parent_user_id, bot_id))
        if files is not None:
            event.update(files=files, upload=False, display_as_bot=False)
        event.update(channel=channel, event_ts=ts, channel_type="channel")
        return self.event_callback(event, event_id=event_id, event_time=int(float(ts)))

    def message_event_for(self, msg: StoredMessage, event_id: str | None = None) -> SlackRequest:
        """The event Slack sends for a message the stand-in holds (posted by a person or
        echoed back for the bot's own post)."""
        return self.message_event(
            user=msg.user,
            channel=msg.channel,
            text=msg.text,
            ts=msg.ts,
            thread_ts=msg.thread_ts,
            event_id=event_id,
            bot_id=BOT_ID if msg.user == BOT_USER else None,
            parent_user_id=msg.parent_user_id or BOT_USER,
        )

    # --------------------------------------------------------------------------- pieces

    def new_event_id(self) -> str:
        return "Ev" + uuid.uuid4().hex[:10].upper()

    def _message_fields(
        self,
        user: str,
        text: str,
        ts: str,
        thread_ts: str | None,
        parent_user_id: str,
        bot_id: str | None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"user": user}
        if bot_id:
            fields.update(
                bot_id=bot_id,
                app_id=self.app_id,
                bot_profile={
                    "id": bot_id,
                    "deleted": False,
                    "name": "baton",
                    "updated": int(float(ts)),
                    "app_id": self.app_id,
                    "icons": {},
                    "team_id": self.team,
                },
            )
        else:
            fields["client_msg_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user}/{ts}"))
        fields.update(
            team=self.team,
            text=text,
            blocks=[
                {
                    "type": "rich_text",
                    "block_id": uuid.uuid4().hex[:5],
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                    ],
                }
            ],
            ts=ts,
        )
        if thread_ts and thread_ts != ts:
            fields.update(thread_ts=thread_ts, parent_user_id=parent_user_id)
        return fields

    def _bare_bot_message(self, ts: str, thread_ts: str | None) -> dict[str, Any]:
        message = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "app_id": self.app_id,
            "text": "",
            "ts": ts,
            "team": self.team,
            "blocks": [],
        }
        if thread_ts:
            message["thread_ts"] = thread_ts
        return message

    def _user(self, user: str) -> dict[str, str]:
        name = self._user_name(user)
        return {"id": user, "username": name, "name": name, "team_id": self.team}

    def _user_name(self, user: str) -> str:
        return self.user_names.get(user, user.lower())

    def _channel_name(self, channel: str) -> str:
        return self.channel_names.get(channel, channel.lower())

    def _trigger_id(self) -> str:
        return f"{int(time.time() * 1000)}{next(self._counter)}.1379717998065.{uuid.uuid4().hex}"

    def _response_url(self, kind: str = "actions") -> str:
        secret = uuid.uuid4().hex[:24]
        return f"{self.response_url_base}/{kind}/{self.team}/{next(self._counter)}/{secret}"

    def _now_ts(self) -> str:
        with self._lock:
            now = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = now
            return f"{now:.6f}"


def find_option(element: dict[str, Any], value: str | None) -> dict[str, Any]:
    """The option of an overflow or select menu whose value is ``value``."""
    options: list[dict[str, Any]] = element["options"]
    for option in options:
        if option.get("value") == value:
            return option
    raise ValueError(f"{element.get('action_id')!r} has no option {value!r}")


def block_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    """The interactive elements of a block: an actions block's, or a section's accessory."""
    if block.get("type") == "actions":
        return list(block.get("elements", []))
    accessory = block.get("accessory")
    return [accessory] if isinstance(accessory, dict) else []
