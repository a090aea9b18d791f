"""Requests as Slack sends them to ``POST /slack/events``, signed as Slack signs them: the
core (clicks on messages, message events) is api/demo/slack_requests.py; here are the builders only
tests send (modals, commands, the Home tab, edits and deletions, redeliveries).
"""

import time
import uuid
from typing import Any
from urllib.parse import urlencode

from api.demo import slack_requests
from api.demo.slack_requests import (
    FORM,
    JSON,
    VERIFICATION_TOKEN,
    SlackRequest,
    block_elements,
    find_option,
)
from api.demo.slack_standin import BOT_ID, BOT_USER, StoredMessage

__all__ = ["FORM", "JSON", "SlackRequest", "SlackSigner"]


class SlackSigner(slack_requests.SlackSigner):
    """Builds and signs what Slack would send to an app with this signing secret."""

    # ------------------------------------------------------------------------- signing

    def retried(self, request: SlackRequest, retry_num: int = 1) -> SlackRequest:
        """Slack's redelivery: the same body (so the same event_id), signed anew."""
        return self.sign(request.body, request.headers["Content-Type"], retry_num=retry_num)

    # ------------------------------------------------------------------- interactivity

    def view_submission(
        self,
        *,
        user: str,
        callback_id: str,
        private_metadata: str,
        values: dict[str, Any],
        view_id: str = "V0000001",
        blocks: list[dict[str, Any]] | None = None,
        title: str = "Baton",
    ) -> SlackRequest:
        """``values`` is ``view.state.values`` as Slack sends it:
        ``{block_id: {action_id: {"type": ..., "value": ...}}}``."""
        if blocks is None:
            blocks = [
                {
                    "type": "input",
                    "block_id": block_id,
                    "label": {"type": "plain_text", "text": block_id, "emoji": True},
                    "element": {"type": state.get("type", "plain_text_input"), "action_id": aid},
                }
                for block_id, actions in values.items()
                for aid, state in actions.items()
            ]
        view = {
            "id": view_id,
            "team_id": self.team,
            "type": "modal",
            "blocks": blocks,
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": values},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "title": {"type": "plain_text", "text": title, "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": "",
            "app_installed_team_id": self.team,
            "bot_id": BOT_ID,
        }
        return self._interactive(
            {
                "type": "view_submission",
                "team": {"id": self.team, "domain": self.team_domain},
                "user": self._user(user),
                "api_app_id": self.app_id,
                "token": VERIFICATION_TOKEN,
                "trigger_id": self._trigger_id(),
                "view": view,
                "response_urls": [],
                "is_enterprise_install": False,
                "enterprise": None,
            }
        )

    def view_submission_for(
        self, view: dict[str, Any], *, user: str, values: dict[str, Any]
    ) -> SlackRequest:
        """Submitting a modal the stand-in holds (``StandIn.views[view_id]``)."""
        title = view.get("title") or {}
        return self.view_submission(
            user=user,
            callback_id=view.get("callback_id", ""),
            private_metadata=view.get("private_metadata", ""),
            values=values,
            view_id=view["id"],
            blocks=view.get("blocks", []),
            title=title.get("text", "Baton") if isinstance(title, dict) else "Baton",
        )

    # ------------------------------------------------------------------------- commands

    def command(self, *, user: str, channel: str, command: str, text: str) -> SlackRequest:
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": self._channel_name(channel),
            "user_id": user,
            "user_name": self._user_name(user),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url("commands"),
            "trigger_id": self._trigger_id(),
        }
        return self.sign(urlencode(fields), FORM)

    def escalations(self, *, user: str, text: str, channel: str = "C0ESCALATE") -> SlackRequest:
        """``/escalations TEXT`` typed by ``user`` in ``channel``."""
        return self.command(user=user, channel=channel, command="/escalations", text=text)

    def app_home_opened(self, *, user: str, view: dict[str, Any] | None = None) -> SlackRequest:
        """``user`` opens the app's Home tab; ``view`` is the Home published before, if any
        (Slack leaves the field out otherwise)."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": f"D{user}",
            "tab": "home",
            "event_ts": self._now_ts(),
        }
        if view is not None:
            event["view"] = view
        return self.event_callback(event)

    def block_action_in_view(
        self,
        view: dict[str, Any],
        *,
        user: str,
        action_id: str,
        value: str | None = None,
        selected_option_value: str | None = None,
    ) -> SlackRequest:
        """A click on an element of a Home tab (or modal) the stand-in holds: the container
        is the view, and Slack sends the view instead of a message and a channel."""
        for block in view.get("blocks", []):
            for element in block_elements(block):
                if element.get("action_id") != action_id:
                    continue
                if value is not None and element.get("value") != value:
                    continue
                kind = element.get("type", "button")
                action: dict[str, Any] = {
                    "type": kind,
                    "action_id": action_id,
                    "block_id": block.get("block_id", ""),
                    "action_ts": self._now_ts(),
                }
                if "options" in element:
                    option = find_option(element, selected_option_value)
                    action["selected_option"] = option
                else:
                    action.update(text=element.get("text"), value=element.get("value", ""))
                payload = {
                    "type": "block_actions",
                    "user": self._user(user),
                    "api_app_id": self.app_id,
                    "token": VERIFICATION_TOKEN,
                    "container": {"type": "view", "view_id": view.get("id", "V0HOME")},
                    "trigger_id": self._trigger_id(),
                    "team": {"id": self.team, "domain": self.team_domain},
                    "enterprise": None,
                    "is_enterprise_install": False,
                    "view": view,
                    "actions": [action],
                }
                return self._interactive(payload)
        raise ValueError(f"no element {action_id!r} (value {value!r}) in view {view.get('id')}")

    # --------------------------------------------------------------------------- events

    def url_verification(self, challenge: str) -> SlackRequest:
        return self._json(
            {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        )

    def message_changed(
        self,
        *,
        user: str,
        channel: str,
        ts: str,
        new_text: str,
        old_text: str,
        thread_ts: str | None = None,
        event_id: str | None = None,
        edited_ts: str | None = None,
        parent_user_id: str = BOT_USER,
    ) -> SlackRequest:
        """An edit: the new text is at ``event.message.text``; ``event.text`` is absent."""
        edited_ts = edited_ts or self._now_ts()
        message = self._message_fields(user, new_text, ts, thread_ts, parent_user_id, None)
        message["edited"] = {"user": user, "ts": edited_ts}
        previous = self._message_fields(user, old_text, ts, thread_ts, parent_user_id, None)
        event = {
            "type": "message",
            "subtype": "message_changed",
            "message": {"type": "message", **message, "source_team": self.team},
            "previous_message": {"type": "message", **previous},
            "channel": channel,
            "hidden": True,
            "ts": edited_ts,
            "event_ts": edited_ts,
            "channel_type": "channel",
        }
        return self.event_callback(event, event_id=event_id)

    def message_changed_for(
        self, msg: StoredMessage, old_text: str, event_id: str | None = None
    ) -> SlackRequest:
        """The event for ``StandIn.edit_as_user``: pass the text from before the edit."""
        return self.message_changed(
            user=msg.user,
            channel=msg.channel,
            ts=msg.ts,
            new_text=msg.text,
            old_text=old_text,
            thread_ts=msg.thread_ts,
            event_id=event_id,
            edited_ts=msg.edited["ts"] if msg.edited else None,
            parent_user_id=msg.parent_user_id or BOT_USER,
        )

    def message_deleted(
        self,
        *,
        user: str,
        channel: str,
        ts: str,
        old_text: str,
        thread_ts: str | None = None,
        event_id: str | None = None,
        parent_user_id: str = BOT_USER,
    ) -> SlackRequest:
        now = self._now_ts()
        previous = self._message_fields(user, old_text, ts, thread_ts, parent_user_id, None)
        event = {
            "type": "message",
            "subtype": "message_deleted",
            "previous_message": {"type": "message", **previous},
            "channel": channel,
            "hidden": True,
            "deleted_ts": ts,
            "ts": now,
            "event_ts": now,
            "channel_type": "channel",
        }
        return self.event_callback(event, event_id=event_id)

    def message_deleted_for(self, msg: StoredMessage, event_id: str | None = None) -> SlackRequest:
        """The event for ``StandIn.delete_as_user`` (pass the message it returned)."""
        return self.message_deleted(
            user=msg.user,
            channel=msg.channel,
            ts=msg.ts,
            old_text=msg.text,
            thread_ts=msg.thread_ts,
            event_id=event_id,
            parent_user_id=msg.parent_user_id or BOT_USER,
        )
