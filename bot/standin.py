"""A local stand-in for Slack's Web API, for tests and ``baton demo``.

It answers the methods Baton uses the way Slack does (see shared/slack/FACTS.md): JSON
always, logical errors as HTTP 200 ``{"ok": false, "error": …}``, rate limits as 429 with an
integer ``Retry-After``. It keeps channels, messages (with metadata and threads), reactions,
users and views, records every call, and can be told to fail. Point
``BATON_SLACK_API_URL`` at ``StandIn.url``.
"""

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_USER, BOT_ID, TEAM, APP = "UBOT", "BBOT", "T111", "A111"
SCOPES = "chat:write,channels:history,groups:history,im:history,users:read,users:read.email,"
SCOPES += "commands,reactions:write,app_mentions:read"
MAX_MESSAGE_BLOCKS = 50


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float


@dataclass
class Fault:
    """What the next matching call gets instead of its answer."""

    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    drop_connection: bool = False  # do the work, then close without answering


@dataclass
class StoredMessage:
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[Any]
    thread_ts: str | None
    metadata: dict[str, Any] | None
    reactions: dict[str, set[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "user": self.user,
            "text": self.text,
            "blocks": self.blocks,
            "team": TEAM,
        }
        if self.user == BOT_USER:
            message.update(bot_id=BOT_ID, app_id=APP)
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if self.metadata:
            message["metadata"] = self.metadata
        if self.reactions:
            message["reactions"] = [
                {"name": n, "users": sorted(u), "count": len(u)} for n, u in self.reactions.items()
            ]
        return message


class StandIn:
    def __init__(
        self,
        token: str = "xoxb-standin",
        *,
        channels: dict[str, set[str]] | None = None,
        users: dict[str, dict[str, Any]] | None = None,
        post_interval: float = 0.0,
    ) -> None:
        """``channels`` maps channel id to its members (the bot must be one to post);
        ``post_interval`` > 0 enforces Slack's chat.postMessage pace per channel."""
        self.token = token
        self.channels = channels if channels is not None else {"C0ESCALATE": {BOT_USER}}
        self.users = users if users is not None else {}
        self.post_interval = post_interval
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], StoredMessage] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.faults: dict[str, deque[Fault]] = {}
        self.scopes = SCOPES
        self._lock = threading.Lock()
        self._last_ts = 0.0
        self._last_post: dict[str, float] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> "StandIn":
        stand_in = self

        class Handler(_Handler):
            owner = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------------------- scripting

    def fail(self, method: str, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self.faults.setdefault(method, deque()).extend([fault] * times)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, ts: str) -> list[StoredMessage]:
        """A thread's replies, oldest first (the parent not included)."""
        with self._lock:
            return sorted(
                (
                    m
                    for m in self.messages.values()
                    if m.channel == channel and m.thread_ts == ts and m.ts != ts
                ),
                key=lambda m: m.ts,
            )

    def top_level(self, channel: str) -> list[StoredMessage]:
        with self._lock:
            return sorted(
                (m for m in self.messages.values() if m.channel == channel and not m.thread_ts),
                key=lambda m: m.ts,
            )

    # ---------------------------------------------------------------------- the methods

    def handle(
        self, method: str, token: str | None, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str], bool]:
        """Returns HTTP status, body, extra headers, and whether to drop the connection."""
        with self._lock:
            self.calls.append(Call(method, params, time.time()))
            queued = self.faults.get(method)
            fault = queued.popleft() if queued else None
        if fault is not None and not fault.drop_connection:
            if fault.retry_after is not None:
                return (
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(fault.retry_after)},
                    False,
                )
            if fault.status != 200:
                return fault.status, {"ok": False, "error": "internal_error"}, {}, False
            return 200, {"ok": False, "error": fault.error or "fatal_error"}, {}, False
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth" if token else "not_authed"}, {}, False
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}, False
        with self._lock:
            status, body, headers = handler(params)
        return status, body, headers, fault is not None and fault.drop_connection

    def _next_ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _auth_test(self, _: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        body = {
            "ok": True,
            "url": "https://standin.slack.test/",
            "team": "Stand-in",
            "user": "baton",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }
        return 200, body, {"x-oauth-scopes": self.scopes}

    def _channel_error(self, channel: str | None) -> str | None:
        if not channel or channel not in self.channels:
            return "channel_not_found"
        if BOT_USER not in self.channels[channel]:
            return "not_in_channel"
        return None

    def _chat_postMessage(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = p.get("channel")
        error = self._channel_error(channel)
        if error:
            return 200, {"ok": False, "error": error}, {}
        assert channel is not None
        if self.post_interval > 0:
            now = time.monotonic()
            wait = self._last_post.get(channel, 0.0) + self.post_interval - now
            if wait > 0:
                return (
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(max(1, round(wait)))},
                )
            self._last_post[channel] = now
        blocks = _as_list(p.get("blocks"))
        if not p.get("text") and not blocks:
            return 200, {"ok": False, "error": "no_text"}, {}
        if len(blocks) > MAX_MESSAGE_BLOCKS:
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        thread_ts = p.get("thread_ts")
        if thread_ts and (channel, thread_ts) not in self.messages:
            return 200, {"ok": False, "error": "thread_not_found"}, {}
        message = StoredMessage(
            channel,
            self._next_ts(),
            BOT_USER,
            p.get("text") or "",
            blocks,
            thread_ts,
            _as_dict(p.get("metadata")),
        )
        self.messages[(channel, message.ts)] = message
        return (
            200,
            {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_dict()},
            {},
        )

    def _chat_update(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        message = self.messages.get((p.get("channel", ""), p.get("ts", "")))
        if message is None:
            return 200, {"ok": False, "error": "message_not_found"}, {}
        blocks = _as_list(p.get("blocks"))
        if len(blocks) > MAX_MESSAGE_BLOCKS:
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        message.text = p.get("text") or message.text
        message.blocks = blocks or message.blocks
        if p.get("metadata"):
            message.metadata = _as_dict(p.get("metadata"))
        return (
            200,
            {
                "ok": True,
                "channel": message.channel,
                "ts": message.ts,
                "text": message.text,
                "message": message.as_dict(),
            },
            {},
        )

    def _chat_postEphemeral(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        error = self._channel_error(p.get("channel"))
        if error:
            return 200, {"ok": False, "error": error}, {}
        return 200, {"ok": True, "message_ts": self._next_ts()}, {}

    def _conversations_history(
        self, p: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = p.get("channel", "")
        if channel not in self.channels:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        oldest = float(p.get("oldest") or 0)
        found = sorted(
            (
                m
                for m in self.messages.values()
                if m.channel == channel and not m.thread_ts and float(m.ts) >= oldest
            ),
            key=lambda m: m.ts,
            reverse=True,
        )[: int(p.get("limit") or 100)]
        return 200, {"ok": True, "messages": [m.as_dict() for m in found], "has_more": False}, {}

    def _conversations_replies(
        self, p: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel, ts = p.get("channel", ""), p.get("ts", "")
        parent = self.messages.get((channel, ts))
        if parent is None:
            return 200, {"ok": False, "error": "thread_not_found"}, {}
        replies = sorted(
            (m for m in self.messages.values() if m.channel == channel and m.thread_ts == ts),
            key=lambda m: m.ts,
        )
        return (
            200,
            {
                "ok": True,
                "messages": [parent.as_dict()] + [m.as_dict() for m in replies],
                "has_more": False,
            },
            {},
        )

    def _conversations_info(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = p.get("channel", "")
        if channel not in self.channels:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        info = {"id": channel, "is_member": BOT_USER in self.channels[channel]}
        return 200, {"ok": True, "channel": info}, {}

    def _conversations_members(
        self, p: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = p.get("channel", "")
        if channel not in self.channels:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        return (
            200,
            {
                "ok": True,
                "members": sorted(self.channels[channel]),
                "response_metadata": {"next_cursor": ""},
            },
            {},
        )

    def _users_info(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        user = self.users.get(p.get("user", ""))
        if user is None:
            return 200, {"ok": False, "error": "user_not_found"}, {}
        return 200, {"ok": True, "user": user}, {}

    def _users_lookupByEmail(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        email = (p.get("email") or "").lower()
        for user in self.users.values():
            if (user.get("profile", {}).get("email") or "").lower() == email:
                return 200, {"ok": True, "user": user}, {}
        return 200, {"ok": False, "error": "users_not_found"}, {}

    def _reactions_add(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        message = self.messages.get((p.get("channel", ""), p.get("timestamp", "")))
        if message is None:
            return 200, {"ok": False, "error": "message_not_found"}, {}
        users = message.reactions.setdefault(p.get("name", ""), set())
        if BOT_USER in users:
            return 200, {"ok": False, "error": "already_reacted"}, {}
        users.add(BOT_USER)
        return 200, {"ok": True}, {}

    def _reactions_remove(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        message = self.messages.get((p.get("channel", ""), p.get("timestamp", "")))
        if message is None:
            return 200, {"ok": False, "error": "message_not_found"}, {}
        users = message.reactions.get(p.get("name", ""), set())
        if BOT_USER not in users:
            return 200, {"ok": False, "error": "no_reaction"}, {}
        users.discard(BOT_USER)
        if not users:
            message.reactions.pop(p.get("name", ""), None)
        return 200, {"ok": True}, {}

    def _views_open(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not p.get("trigger_id"):
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        return self._store_view(f"V{len(self.views) + 1:08d}", p)

    def _views_update(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        view_id = p.get("view_id", "")
        if view_id not in self.views:
            return 200, {"ok": False, "error": "not_found"}, {}
        return self._store_view(view_id, p)

    def _views_publish(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not p.get("user_id"):
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        return self._store_view(f"home:{p['user_id']}", p)

    def _store_view(
        self, view_id: str, p: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        view = _as_dict(p.get("view")) or {}
        if not 1 <= len(view.get("blocks", [])) <= 100:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        stored = {**view, "id": view_id, "hash": f"{time.time():.6f}", "team_id": TEAM}
        self.views[view_id] = stored
        return 200, {"ok": True, "view": stored}, {}


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return list(value or [])


def _as_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        value = json.loads(value) if value else None
    return value


class _Handler(BaseHTTPRequestHandler):
    owner: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        method = parts.path.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if raw.strip():
            if raw.lstrip().startswith(b"{"):
                params.update(json.loads(raw))
            else:
                params.update(parse_qsl(raw.decode(), keep_blank_values=True))
        auth = self.headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").strip() or params.pop("token", None)
        status, body, headers, drop = self.owner.handle(method, token, params)
        if drop:
            self.close_connection = True
            self.connection.close()
            return
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
