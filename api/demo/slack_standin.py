"""A local stand-in for Slack's Web API, for tests and ``baton demo``.

It answers the methods Baton uses the way Slack does (see shared/slack/FACTS.md): JSON
always, logical errors as HTTP 200 ``{"ok": false, "error": …}``, rate limits as 429 with an
integer ``Retry-After``, a method whose scope the token was not granted as ``missing_scope``
(``bot.scopes`` says which scope each method needs). It keeps channels, messages (with
metadata and threads), reactions, users, views, ephemerals and files, records every call, and
can be told to fail. Tests script what people do in Slack with
``post_as_user``/``edit_as_user``/``delete_as_user``/``post_file_as_user``. Point
``BATON_SLACK_API_URL`` at ``StandIn.url``.

Files go both ways as in Slack: the upload v2 flow (``files.getUploadURLExternal``, the bytes
POSTed to the upload URL, ``files.completeUploadExternal`` sharing them into a channel or
thread), ``files.info``, and ``url_private``/``url_private_download`` served from this
server to the bot token only when it has ``files:read`` (anyone else is sent to the sign-in
page, as Slack does). A file's bytes may be generated as they are read (``generated``), so
a large file is never held in memory.
"""

import base64
import hashlib
import itertools
import json
import math
import mimetypes
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from bot.manifest import bot_scopes
from bot.scopes import Kind, kind_of, scope_for

BOT_USER, BOT_ID, TEAM, APP = "UBOT", "BBOT", "T111", "A111"
MAX_MESSAGE_BLOCKS, MAX_VIEW_BLOCKS = 50, 100
# Block Kit's limits that Slack checks (FACTS.md section 5): (block type, what, most).
BLOCK_LIMITS = {
    ("section", "text"): 3000,
    ("section", "fields"): 10,
    ("section", "field"): 2000,
    ("header", "text"): 150,
    ("context", "elements"): 10,
    ("actions", "elements"): 25,
}
BUTTON_TEXT, BUTTON_VALUE, ID_LENGTH = 75, 2000, 255
HISTORY_LIMIT, REPLIES_LIMIT = 100, 1000  # Slack's defaults when no limit is given
TRUTHY = {"1", "true", True}  # also matches 1
APP_TOKEN_SCOPES = "connections:write"
# Not Web API methods, but what ``fail`` and ``calls_to`` know them by: the POST of a file's
# bytes to its upload URL, and a GET of a file's url_private or url_private_download.
UPLOAD, DOWNLOAD = "upload", "download"
FILES_READ = "files:read"  # what downloading a file needs, as files.info does
CHUNK = 64 * 1024  # a file is sent this much at a time


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
    delay: float = 0.0  # the call is held up on the way: Slack gets it this much later
    late: float = 0.0  # Slack does the work, and its answer comes this much later

    @property
    def only_delays(self) -> bool:
        return self == Fault(delay=self.delay, late=self.late)


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
    client_msg_id: str | None = None
    parent_user_id: str | None = None
    edited: dict[str, str] | None = None
    subtype: str | None = None
    # A file share (subtype file_share): the files as Slack describes them in the message,
    # and whether they were uploaded by an app (files.completeUploadExternal).
    files: list[dict[str, Any]] = field(default_factory=list)
    upload: bool = False
    # Kept up to date on a thread's parent by the stand-in.
    reply_count: int = 0
    reply_users: list[str] = field(default_factory=list)
    latest_reply: str | None = None

    def as_dict(self, *, include_metadata: bool = True) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "user": self.user,
            "text": self.text,
            "blocks": self.blocks,
            "team": TEAM,
        }
        if self.subtype:
            message["subtype"] = self.subtype
        if self.subtype == "tombstone":
            message.update(hidden=True, blocks=[])
        if self.user == BOT_USER:
            message.update(bot_id=BOT_ID, app_id=APP)
        if self.client_msg_id:
            message["client_msg_id"] = self.client_msg_id
        if self.edited:
            message["edited"] = dict(self.edited)
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
            if self.parent_user_id:
                message["parent_user_id"] = self.parent_user_id
        elif self.reply_count:
            message.update(
                thread_ts=self.ts,
                reply_count=self.reply_count,
                reply_users_count=len(self.reply_users),
                latest_reply=self.latest_reply,
                reply_users=list(self.reply_users),
            )
        if self.files:
            message.update(
                files=[dict(f) for f in self.files], upload=self.upload, display_as_bot=False
            )
            if not self.text:
                del message["blocks"]  # a file alone comes without blocks
        if self.metadata and include_metadata:
            message["metadata"] = dict(self.metadata)
        if self.reactions:
            message["reactions"] = [
                {"name": n, "users": sorted(u), "count": len(u)} for n, u in self.reactions.items()
            ]
        return message


@dataclass
class Download:
    """The answer to a GET of a file's URL: a page, or the file's bytes (``file``),
    streamed; ``drop``: the connection is cut halfway through them."""

    status: int
    headers: dict[str, str]
    page: bytes | None
    content_type: str
    file: "StoredFile | None" = None
    drop: bool = False


@dataclass
class Ephemeral:
    """A ``chat.postEphemeral`` that Slack accepted: only ``user`` sees it, nothing stores it."""

    channel: str
    user: str
    text: str
    blocks: list[Any]
    thread_ts: str | None
    ts: str


Content = bytes | Callable[[], Iterable[bytes]]
"""A file's bytes, or what makes them anew each time they are read (see ``generated``)."""


def generated(size: int, seed: int = 0) -> Callable[[], Iterator[bytes]]:
    """Content of ``size`` bytes made as it is read, the same each time: a large file the
    stand-in serves without holding it (``StoredFile.sha256`` to check what arrived)."""
    block = hashlib.sha256(f"baton-standin-{seed}".encode()).digest() * (CHUNK // 32)

    def chunks() -> Iterator[bytes]:
        for offset in range(0, size, CHUNK):
            head = (offset // CHUNK).to_bytes(8, "big")  # no two chunks alike
            yield (head + block)[: min(CHUNK, size - offset)]

    return chunks


@dataclass
class Share:
    """Where a file was shared: the message that shows it, and its thread if in one."""

    channel: str
    ts: str
    thread_ts: str | None = None


@dataclass
class StoredFile:
    """A file Slack holds: uploaded the v2 way by the bot, or shared by a person."""

    id: str
    name: str
    size: int
    user: str
    mimetype: str = "application/octet-stream"
    title: str | None = None
    alt_txt: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    data: bytes | None = None
    source: Callable[[], Iterable[bytes]] | None = None  # the bytes, made as read
    ticket: str | None = None  # its upload URL's, until the bytes arrive
    uploaded: bool = False  # its bytes are in (always, for a person's file)
    completed: bool = False  # files.completeUploadExternal finished it
    initial_comment: str | None = None
    shares: list[Share] = field(default_factory=list)

    def chunks(self) -> Iterator[bytes]:
        if self.source is not None:
            yield from self.source()
        elif self.data:
            for offset in range(0, len(self.data), CHUNK):
                yield self.data[offset : offset + CHUNK]

    @property
    def content(self) -> bytes:
        """All the bytes at once: for small files (``chunks`` or ``sha256`` for big ones)."""
        return self.data if self.data is not None else b"".join(self.chunks())

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    @property
    def filename(self) -> str:
        return self.name

    @property
    def channel(self) -> str | None:
        """Where it was first shared (None if nowhere)."""
        return self.shares[0].channel if self.shares else None

    @property
    def thread_ts(self) -> str | None:
        return self.shares[0].thread_ts if self.shares else None

    @property
    def filetype(self) -> str:
        extension = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else ""
        if self.mimetype.startswith("text/") and extension in ("", "txt"):
            return "text"
        return extension or "binary"

    def as_dict(self, base_url: str) -> dict[str, Any]:
        """The file object as Slack gives it in messages and from files.info (without
        ``shares``: ``StandIn.file_info`` adds them)."""
        where = f"{base_url}/files-pri/{TEAM}-{self.id}"
        name = quote(self.name)
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": self.mimetype,
            "filetype": self.filetype,
            "pretty_type": self.filetype.upper() if self.filetype != "binary" else "Binary",
            "user": self.user,
            "user_team": TEAM,
            "editable": False,
            "size": self.size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{where}/{name}",
            "url_private_download": f"{where}/download/{name}",
            "permalink": f"https://standin.slack.test/files/{self.user}/{self.id}/{name}",
            "permalink_public": f"https://slack-files.com/{TEAM}-{self.id}-{self.id[-6:].lower()}",
            "has_rich_preview": False,
            "file_access": "visible",
            **({"alt_txt": self.alt_txt} if self.alt_txt else {}),
        }


class StandIn:
    def __init__(
        self,
        token: str = "xoxb-standin",
        *,
        app_token: str = "xapp-standin",
        channels: dict[str, set[str]] | None = None,
        users: dict[str, dict[str, Any]] | None = None,
        post_interval: float = 0.0,
        scopes: Collection[str] | None = None,
        publish_interval: float = 0.0,
    ) -> None:
        """``channels`` maps channel id to its members (the bot must be one to post);
        ``post_interval`` > 0 enforces Slack's chat.postMessage pace per channel;
        ``publish_interval`` > 0 answers views.publish calls that come closer together than
        that with a 429 (its Tier 4 is about 100 a minute for the whole app);
        ``app_token`` is the app-level token that ``apps.connections.open`` wants;
        ``scopes`` are the bot token's scopes, by default those the manifest asks for: every
        answer names them in ``x-oauth-scopes``, and a method whose scope is not among them
        is refused with ``missing_scope``, as Slack does."""
        self.token = token
        self.app_token = app_token
        self.channels = channels if channels is not None else {"C0ESCALATE": {BOT_USER}}
        self.users = users if users is not None else {}
        self.post_interval = post_interval
        self.publish_interval = publish_interval
        self._last_publish = 0.0
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], StoredMessage] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.files: dict[str, StoredFile] = {}
        self._file_numbers = itertools.count(1)
        self.faults: dict[str, deque[Fault | None]] = {}  # None: answer that call as usual
        self.scopes = tuple(bot_scopes() if scopes is None else scopes)
        self._lock = threading.Lock()
        self._last_ts = 0.0
        self._last_post: dict[str, float] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def base_url(self) -> str:
        """The server itself: where upload URLs and files' URLs point."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

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

    def fail(self, method: str, fault: Fault, times: int = 1, *, every: int = 1) -> None:
        """``fault`` for ``times`` of the next calls to ``method``: the next ``times`` in a
        row, or with ``every`` = n one call in n, the first of each n (``every=2``: every
        other call, starting with the next)."""
        with self._lock:
            self.faults.setdefault(method, deque()).extend([fault, *[None] * (every - 1)] * times)

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

    def ephemerals_for(self, user: str) -> list[Ephemeral]:
        with self._lock:
            return [e for e in self.ephemerals if e.user == user]

    def post_as_user(
        self, channel: str, user: str, text: str, thread_ts: str | None = None
    ) -> StoredMessage:
        """Store a message a person typed, as Slack would: a fresh ts, a rich_text block,
        a client_msg_id, no bot_id. The channel and the thread must exist; membership is
        not checked (put the user in ``channels`` if ephemerals should reach them)."""
        with self._lock:
            return self._store_user_message(channel, user, text, thread_ts)

    def _store_user_message(
        self, channel: str, user: str, text: str, thread_ts: str | None
    ) -> StoredMessage:
        if channel not in self.channels:
            raise ValueError(f"no channel {channel!r}")
        parent = self.messages.get((channel, thread_ts)) if thread_ts else None
        if thread_ts and parent is None:
            raise ValueError(f"no message {thread_ts!r} in {channel!r} to reply to")
        message = StoredMessage(
            channel,
            self._next_ts(),
            user,
            text,
            _rich_text(text),
            thread_ts,
            None,
            client_msg_id=str(uuid.uuid4()),
            parent_user_id=parent.user if parent else None,
        )
        self.messages[(channel, message.ts)] = message
        if thread_ts:
            self._refresh_thread(channel, thread_ts)
        return message

    def edit_as_user(self, channel: str, ts: str, text: str) -> StoredMessage:
        """Its author edits a message: new text and blocks, and ``edited`` as Slack marks it."""
        with self._lock:
            message = self._existing(channel, ts)
            message.text = text
            message.blocks = _rich_text(text)
            message.edited = {"user": message.user, "ts": self._next_ts()}
            return message

    def delete_as_user(self, channel: str, ts: str) -> StoredMessage:
        """Its author deletes a message; returns what was removed. A parent that still has
        replies leaves a tombstone behind, as in Slack."""
        with self._lock:
            message = self._existing(channel, ts)
            del self.messages[(channel, ts)]
            if message.thread_ts and message.thread_ts != ts:
                self._refresh_thread(channel, message.thread_ts)
            elif message.reply_count:
                self.messages[(channel, ts)] = StoredMessage(
                    channel,
                    ts,
                    "USLACKBOT",
                    "This message was deleted.",
                    [],
                    None,
                    None,
                    subtype="tombstone",
                    reply_count=message.reply_count,
                    reply_users=list(message.reply_users),
                    latest_reply=message.latest_reply,
                )
            return message

    def add_file(
        self,
        name: str,
        content: Content,
        *,
        size: int | None = None,
        mimetype: str | None = None,
        user: str = "U0FILES",
        title: str | None = None,
    ) -> StoredFile:
        """A file in the workspace, shared nowhere yet (``post_file_as_user`` shares one).
        ``content`` is its bytes, or a function that makes them anew each time they are
        read (``generated(size)``), with ``size`` then required; ``mimetype`` is guessed
        from the name when not given, as Slack does."""
        if isinstance(content, bytes | bytearray):
            data, source = bytes(content), None
            if size is not None and size != len(data):
                raise ValueError(f"{name!r} has {len(data)} bytes, not {size}")
            size = len(data)
        elif callable(content):
            if size is None:
                raise ValueError("generated content needs its size")
            data, source = None, content
        else:
            raise TypeError("content is bytes, or a function making the bytes")
        with self._lock:
            stored = StoredFile(
                self._new_file_id(),
                name,
                size,
                user,
                mimetype or _mimetype(name),
                title=title,
                data=data,
                source=source,
                uploaded=True,
                completed=True,
            )
            self.files[stored.id] = stored
            return stored

    def post_file_as_user(
        self,
        channel: str,
        user: str,
        name: str,
        content: Content,
        mimetype: str | None = None,
        thread_ts: str | None = None,
        text: str = "",
        *,
        size: int | None = None,
        title: str | None = None,
    ) -> StoredMessage:
        """A person shares a file, with or without words, as Slack stores it: a message
        with subtype ``file_share`` and the file in its ``files`` (the file itself in
        ``files`` by its id). The event for it: ``SlackSigner.message_event_for``."""
        stored = self.add_file(name, content, size=size, mimetype=mimetype, user=user, title=title)
        with self._lock:
            try:
                message = self._store_user_message(channel, user, text, thread_ts)
            except ValueError:
                del self.files[stored.id]
                raise
            stored.shares.append(Share(channel, message.ts, thread_ts))
            message.subtype = "file_share"
            message.files = [stored.as_dict(self.base_url)]
            if not text:
                message.blocks = []
            return message

    def files_in_thread(self, channel: str, thread_ts: str) -> list[StoredFile]:
        """The files shared in a thread, oldest first (each once, however often shared)."""
        with self._lock:
            return [
                f
                for f in self.files.values()
                if any(s.channel == channel and s.thread_ts == thread_ts for s in f.shares)
            ]

    def file_info(self, file_id: str) -> dict[str, Any] | None:
        """The file as files.info gives it, with where it is shared; None if no such file."""
        with self._lock:
            stored = self.files.get(file_id)
            return self._file_object(stored) if stored is not None else None

    def _file_object(self, stored: StoredFile) -> dict[str, Any]:
        shares: dict[str, dict[str, list[dict[str, Any]]]] = {}
        channels: dict[str, list[str]] = {"channels": [], "groups": [], "ims": []}
        for share in stored.shares:
            kind = kind_of(share.channel)
            public = kind == Kind.public
            entry: dict[str, Any] = {"ts": share.ts, "channel_name": share.channel.lower()}
            if share.thread_ts:
                parent = self.messages.get((share.channel, share.thread_ts))
                entry.update(thread_ts=share.thread_ts)
                if parent is not None:
                    entry.update(
                        reply_count=parent.reply_count,
                        reply_users=list(parent.reply_users),
                        reply_users_count=len(parent.reply_users),
                        latest_reply=parent.latest_reply,
                    )
            entry["team_id"] = TEAM
            scope = "public" if public else "private"
            shares.setdefault(scope, {}).setdefault(share.channel, []).append(entry)
            listed = "channels" if public else "ims" if kind == Kind.im else "groups"
            if share.channel not in channels[listed]:
                channels[listed].append(share.channel)
        return {
            **stored.as_dict(self.base_url),
            "shares": shares,
            **channels,
            "comments_count": 0,
        }

    def _new_file_id(self) -> str:
        return f"F{next(self._file_numbers):08d}"

    def _sees(self, stored: StoredFile) -> bool:
        """Whether the bot may see a file: its own upload, or one shared where it is."""
        if not stored.completed:
            return False
        if stored.user == BOT_USER:
            return True
        return any(BOT_USER in self.channels.get(s.channel, set()) for s in stored.shares)

    def _existing(self, channel: str, ts: str) -> StoredMessage:
        message = self.messages.get((channel, ts))
        if message is None:
            raise ValueError(f"no message {ts!r} in {channel!r}")
        return message

    def _refresh_thread(self, channel: str, parent_ts: str) -> None:
        parent = self.messages.get((channel, parent_ts))
        if parent is None:
            return
        replies = sorted(
            (
                m
                for m in self.messages.values()
                if m.channel == channel and m.thread_ts == parent_ts and m.ts != parent_ts
            ),
            key=lambda m: Decimal(m.ts),
        )
        if not replies and parent.subtype == "tombstone":
            del self.messages[(channel, parent_ts)]
            return
        parent.reply_count = len(replies)
        parent.reply_users = list(dict.fromkeys(m.user for m in replies))
        parent.latest_reply = replies[-1].ts if replies else None

    # ---------------------------------------------------------------------- the methods

    def handle(
        self, method: str, token: str | None, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str], bool]:
        """Returns HTTP status, body, extra headers, and whether to drop the connection."""
        fault, late = self._arrive(method, params)
        # Socket Mode's handshake takes the app-level token; every other method the bot token.
        socket_mode = method == "apps.connections.open"
        expected = self.app_token if socket_mode else self.token
        if token != expected:
            return 200, {"ok": False, "error": "invalid_auth" if token else "not_authed"}, {}, False
        # Slack names the token's scopes on every answer to it.
        granted = {"x-oauth-scopes": APP_TOKEN_SCOPES if socket_mode else ",".join(self.scopes)}
        if fault is not None and not fault.drop_connection:
            status, body, headers = _faulted(fault)
            return status, body, {**granted, **headers}, False
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, granted, False
        refusal = self._missing_scope(method, params)
        if refusal is not None:
            return 200, refusal, granted, False
        with self._lock:
            status, body, headers = handler(params)
        time.sleep(late)  # done already: only the answer is on its way
        return status, body, {**granted, **headers}, fault is not None and fault.drop_connection

    def _arrive(self, method: str, params: dict[str, Any]) -> tuple[Fault | None, float]:
        """A call comes in: its fault if one is queued (held up first, if it says so), and
        how late its answer is to be."""
        with self._lock:
            queued = self.faults.get(method)
            fault = queued.popleft() if queued else None
        late = 0.0
        if fault is not None and fault.delay > 0:
            time.sleep(fault.delay)  # this handler's own thread: other calls go on meanwhile
        if fault is not None and fault.only_delays:
            late, fault = fault.late, None
        with self._lock:
            self.calls.append(Call(method, params, time.time()))
        return fault, late

    def upload(self, ticket: str, content: bytes) -> tuple[int, bytes, bool]:
        """The POST of a file's bytes to its upload URL: HTTP status, the plain-text
        answer, and whether to drop the connection (after taking the bytes)."""
        fault, late = self._arrive(UPLOAD, {"ticket": ticket, "length": len(content)})
        if fault is not None and not fault.drop_connection:
            status, _, _ = _faulted(fault)
            return status, b"Service Unavailable" if status >= 500 else b"Error", False
        with self._lock:
            status, answer = self._upload(ticket, content)
        time.sleep(late)
        return status, answer, fault is not None and fault.drop_connection

    def download(self, path: str, authorization: str | None) -> "Download":
        """A GET of a file's url_private or url_private_download. With the bot token and
        files:read, the file (if the bot may see it); without them Slack's redirect to
        its sign-in page, never the bytes."""
        parts = path.strip("/").split("/")  # files-pri, T…-F…, [download,] name
        file_id = parts[1].removeprefix(f"{TEAM}-") if len(parts) >= 3 else ""
        as_attachment = len(parts) >= 4 and parts[2] == "download"
        fault, late = self._arrive(DOWNLOAD, {"file": file_id, "path": path})
        if fault is not None and not fault.drop_connection:
            status, _, headers = _faulted(fault)
            return Download(status, headers, _html_page("Slack is having trouble"), "text/html")
        token = (authorization or "").removeprefix("Bearer ").strip()
        with self._lock:
            stored = self.files.get(file_id)
            allowed = token == self.token and FILES_READ in self.scopes
            if not allowed or (stored is not None and not self._sees(stored)):
                location = f"{self.base_url}/?redir={quote(path, safe='')}"
                headers = {"Location": location, "x-slack-meta": "?;acl_fail"}
                found = f'<a href="{location}">Found</a>.'.encode()
                return Download(302, headers, found, "text/html; charset=utf-8")
            if stored is None:
                return Download(404, {}, _html_page("File not found"), "text/html; charset=utf-8")
        time.sleep(late)
        disposition = "attachment" if as_attachment else "inline"
        headers = {
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(stored.name)}",
            "Cache-Control": "private, max-age=300",
        }
        drop = fault is not None and fault.drop_connection
        return Download(200, headers, None, stored.mimetype, stored, drop)

    def _missing_scope(self, method: str, p: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's refusal of a method whose scope the token was not granted."""
        if method == "conversations.open":
            kind = Kind.im if len(str(p.get("users") or "").split(",")) == 1 else Kind.mpim
        else:
            kind = kind_of(str(p.get("channel") or ""))
        needed = scope_for(method, kind)
        if needed is None or needed in self.scopes:
            return None
        return {
            "ok": False,
            "error": "missing_scope",
            "needed": needed,
            "provided": ",".join(self.scopes),
        }

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
        return 200, body, {}

    def _channel_error(self, channel: str | None) -> str | None:
        if not channel or channel not in self.channels:
            return "channel_not_found"
        if BOT_USER not in self.channels[channel]:
            return "not_in_channel"
        return None

    def _dm_with(self, user: str) -> str:
        """The bot's DM with ``user`` (its App Home's Messages tab), made on first use."""
        channel = f"D{user}"
        self.channels.setdefault(channel, {BOT_USER, user})
        return channel

    def _chat_postMessage(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = p.get("channel")
        if channel in self.users:  # a user id: Slack posts in the bot's DM with them
            channel = self._dm_with(channel)
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
        if _blocks_problem(blocks, MAX_MESSAGE_BLOCKS):
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        thread_ts = p.get("thread_ts") or None
        parent = self.messages.get((channel, thread_ts)) if thread_ts else None
        if thread_ts and parent is None:
            return 200, {"ok": False, "error": "thread_not_found"}, {}
        try:
            metadata = _metadata(p.get("metadata"))
        except ValueError:
            return 200, {"ok": False, "error": "invalid_metadata_format"}, {}
        message = StoredMessage(
            channel,
            self._next_ts(),
            BOT_USER,
            p.get("text") or "",
            blocks,
            thread_ts,
            metadata,
            parent_user_id=parent.user if parent else None,
        )
        self.messages[(channel, message.ts)] = message
        if thread_ts:
            self._refresh_thread(channel, thread_ts)
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
        if _blocks_problem(blocks, MAX_MESSAGE_BLOCKS):
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        message.text = p.get("text") or message.text
        message.blocks = blocks or message.blocks
        if p.get("metadata"):
            try:
                message.metadata = _metadata(p.get("metadata"))
            except ValueError:
                return 200, {"ok": False, "error": "invalid_metadata_format"}, {}
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
        channel = p.get("channel")
        error = self._channel_error(channel)
        if error:
            return 200, {"ok": False, "error": error}, {}
        assert channel is not None
        user = p.get("user") or ""
        if user not in self.channels[channel]:
            return 200, {"ok": False, "error": "user_not_in_channel"}, {}
        blocks = _as_list(p.get("blocks"))
        if not p.get("text") and not blocks:
            return 200, {"ok": False, "error": "no_text"}, {}
        if _blocks_problem(blocks, MAX_MESSAGE_BLOCKS):
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        ephemeral = Ephemeral(
            channel, user, p.get("text") or "", blocks, p.get("thread_ts") or None, self._next_ts()
        )
        self.ephemerals.append(ephemeral)
        return 200, {"ok": True, "message_ts": ephemeral.ts}, {}

    def _conversations_history(
        self, p: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = p.get("channel", "")
        if channel not in self.channels:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        top = [m for m in self.messages.values() if m.channel == channel and not m.thread_ts]
        window = _window(top, p)
        if isinstance(window, str):
            return 200, {"ok": False, "error": window}, {}
        newest_first = sorted(window, key=lambda m: Decimal(m.ts), reverse=True)
        page = _page(newest_first, p.get("cursor"), _limit(p, HISTORY_LIMIT), older=True)
        if page is None:
            return 200, {"ok": False, "error": "invalid_cursor"}, {}
        found, next_cursor = page
        body: dict[str, Any] = {
            "ok": True,
            "messages": [m.as_dict(include_metadata=_include_metadata(p)) for m in found],
            "has_more": bool(next_cursor),
            "pin_count": 0,
        }
        if next_cursor:
            body["response_metadata"] = {"next_cursor": next_cursor}
        return 200, body, {}

    def _conversations_replies(
        self, p: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel, ts = p.get("channel", ""), p.get("ts", "")
        if channel not in self.channels:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        parent = self.messages.get((channel, ts))
        if parent is not None and parent.thread_ts and parent.thread_ts != ts:
            # ts may name any message of the thread; Slack answers with the whole thread.
            parent = self.messages.get((channel, parent.thread_ts))
        if parent is None:
            return 200, {"ok": False, "error": "thread_not_found"}, {}
        replies = [
            m
            for m in self.messages.values()
            if m.channel == channel and m.thread_ts == parent.ts and m.ts != parent.ts
        ]
        window = _window(replies, p)
        if isinstance(window, str):
            return 200, {"ok": False, "error": window}, {}
        oldest_first = sorted(window, key=lambda m: Decimal(m.ts))
        cursor = p.get("cursor")
        page = _page(oldest_first, cursor, _limit(p, REPLIES_LIMIT), older=False)
        if page is None:
            return 200, {"ok": False, "error": "invalid_cursor"}, {}
        found, next_cursor = page
        # The parent leads the first page whatever the time bounds; later pages hold replies.
        if not cursor:
            found = [parent, *found]
        body: dict[str, Any] = {
            "ok": True,
            "messages": [m.as_dict(include_metadata=_include_metadata(p)) for m in found],
            "has_more": bool(next_cursor),
        }
        if next_cursor:
            body["response_metadata"] = {"next_cursor": next_cursor}
        return 200, body, {}

    def _conversations_info(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = p.get("channel", "")
        if channel not in self.channels:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        # Channels are known by id only here; Slack's names are lowercase.
        member = BOT_USER in self.channels[channel]
        info = {"id": channel, "name": channel.lower(), "is_member": member}
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

    def _conversations_open(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """A DM between the bot and one user: its channel is made on first use."""
        users = [u for u in str(p.get("users") or "").split(",") if u]
        if len(users) != 1 or users[0] not in self.users:
            return 200, {"ok": False, "error": "user_not_found"}, {}
        return 200, {"ok": True, "channel": {"id": self._dm_with(users[0])}}, {}

    def _chat_getPermalink(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel, ts = p.get("channel", ""), p.get("message_ts", "")
        if (channel, ts) not in self.messages:
            return 200, {"ok": False, "error": "message_not_found"}, {}
        link = f"https://standin.slack.test/archives/{channel}/p{ts.replace('.', '')}"
        return 200, {"ok": True, "channel": channel, "permalink": link}, {}

    def _files_getUploadURLExternal(
        self, p: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """An upload ticket: the file is nothing yet, until its bytes come and
        files.completeUploadExternal finishes it."""
        filename, length = str(p.get("filename") or ""), str(p.get("length") or "")
        if not filename or length in ("", "0"):
            return 200, {"ok": False, "error": "missing_argument"}, {}
        if not length.isdigit():
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        if len(str(p.get("alt_txt") or "")) > 1000:
            return 200, {"ok": False, "error": "alt_txt_too_large"}, {}
        ticket = secrets.token_urlsafe(16)
        stored = StoredFile(
            self._new_file_id(),
            filename,
            int(length),
            BOT_USER,
            _mimetype(filename),
            alt_txt=p.get("alt_txt") or None,
            ticket=ticket,
        )
        self.files[stored.id] = stored
        upload_url = f"{self.base_url}/upload/v1/{ticket}"
        return 200, {"ok": True, "upload_url": upload_url, "file_id": stored.id}, {}

    def _upload(self, ticket: str, content: bytes) -> tuple[int, bytes]:
        """The bytes POSTed to an upload URL: Slack answers 200 when it took them."""
        stored = next((f for f in self.files.values() if f.ticket == ticket), None)
        if stored is None:
            return 404, b"Not Found"
        if len(content) != stored.size:
            return 400, f"length {len(content)} is not the {stored.size} announced".encode()
        stored.data, stored.uploaded = content, True
        return 200, f"OK - {len(content)}".encode()

    def _files_completeUploadExternal(
        self, p: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Finishes uploads and shares them: one message, in the channel or the thread,
        showing the files. Finishing a file again shares it again, as a second message."""
        try:
            listed = _as_list(p.get("files"))
        except ValueError:
            listed = []
        if not listed or not all(isinstance(item, dict) for item in listed):
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        targets = [c for c in [p.get("channel_id"), *str(p.get("channels") or "").split(",")] if c]
        targets = [self._dm_with(c) if c in self.users else c for c in targets]
        for channel in targets:
            error = self._channel_error(channel)
            if error:
                return 200, {"ok": False, "error": error}, {}
        thread_ts = p.get("thread_ts") or None
        for channel in targets if thread_ts else []:
            if (channel, thread_ts) not in self.messages:
                return 200, {"ok": False, "error": "thread_not_found"}, {}
        found: list[StoredFile] = []
        for item in listed:
            stored = self.files.get(str(item.get("id") or ""))
            if stored is None or stored.user != BOT_USER or not stored.uploaded:
                return 200, {"ok": False, "error": "file_not_found"}, {}
            found.append(stored)
        comment = str(p.get("initial_comment") or "")
        for stored, item in zip(found, listed, strict=True):
            stored.title = item.get("title") or stored.title or stored.name
            stored.completed, stored.ticket = True, None
            stored.initial_comment = comment or stored.initial_comment
        for channel in targets:
            parent = self.messages.get((channel, thread_ts)) if thread_ts else None
            message = StoredMessage(
                channel,
                self._next_ts(),
                BOT_USER,
                comment,
                _rich_text(comment) if comment else [],
                thread_ts,
                None,
                parent_user_id=parent.user if parent else None,
                subtype="file_share",
                files=[f.as_dict(self.base_url) for f in found],
                upload=True,
            )
            self.messages[(channel, message.ts)] = message
            if thread_ts:
                self._refresh_thread(channel, thread_ts)
            for stored in found:
                stored.shares.append(Share(channel, message.ts, thread_ts))
        return 200, {"ok": True, "files": [self._file_object(f) for f in found]}, {}

    def _files_info(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        stored = self.files.get(str(p.get("file") or ""))
        if stored is None or not self._sees(stored):
            return 200, {"ok": False, "error": "file_not_found"}, {}
        body = {
            "ok": True,
            "file": self._file_object(stored),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }
        return 200, body, {}

    def _users_info(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        user_id = p.get("user", "")
        if user_id not in self.users:
            return 200, {"ok": False, "error": "user_not_found"}, {}
        return 200, {"ok": True, "user": self._user(user_id)}, {}

    def _user(self, user_id: str) -> dict[str, Any]:
        """The user as given, with the fields Slack always sends filled in where missing."""
        given = self.users[user_id]
        profile = {"real_name": given.get("real_name", ""), **given.get("profile", {})}
        return {
            "id": user_id,
            "team_id": TEAM,
            "name": given.get("name", user_id.lower()),
            "deleted": False,
            "is_bot": False,
            "is_app_user": False,
            **given,
            "profile": profile,
        }

    def _users_lookupByEmail(self, p: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        # Slack finds no deactivated user by email: users_not_found, as for no one at all
        # (the method's documentation).
        email = (p.get("email") or "").lower()
        for user_id, user in self.users.items():
            if user.get("deleted"):
                continue
            if (user.get("profile", {}).get("email") or "").lower() == email:
                return 200, {"ok": True, "user": self._user(user_id)}, {}
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

    def _apps_connections_open(
        self, _: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        assert self._server is not None
        port = self._server.server_address[1]
        # Nothing listens for websockets here; the URL only has the shape Slack gives.
        url = f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id={APP}"
        return 200, {"ok": True, "url": url}, {}

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
        if self.publish_interval > 0:
            now = time.monotonic()
            wait = self._last_publish + self.publish_interval - now
            if wait > 0:
                retry = {"Retry-After": str(max(1, math.ceil(wait)))}
                return 429, {"ok": False, "error": "ratelimited"}, retry
            self._last_publish = now
        return self._store_view(f"home:{p['user_id']}", p)

    def _store_view(
        self, view_id: str, p: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        view = _as_dict(p.get("view")) or {}
        if not view.get("blocks"):
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        if _blocks_problem(_as_list(view.get("blocks")), MAX_VIEW_BLOCKS):
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        stored = {**view, "id": view_id, "hash": f"{time.time():.6f}", "team_id": TEAM}
        self.views[view_id] = stored
        return 200, {"ok": True, "view": stored}, {}


def _blocks_problem(blocks: list[Any], most: int) -> str | None:
    """Why Slack would refuse these blocks (``invalid_blocks``), or None."""
    if len(blocks) > most:
        return f"more than {most} blocks"
    for index, block in enumerate(blocks):
        problem = _block_problem(block) if isinstance(block, dict) else "not an object"
        if problem is not None:
            return f"block {index}: {problem}"
    return None


def _block_problem(block: dict[str, Any]) -> str | None:
    kind = block.get("type", "")
    if len(str(block.get("block_id") or "")) > ID_LENGTH:
        return "block_id too long"
    text = (block.get("text") or {}).get("text", "") if isinstance(block.get("text"), dict) else ""
    if (kind, "text") in BLOCK_LIMITS:
        if kind == "section" and not text and not block.get("fields"):
            return "a section needs text or fields"
        if len(text) > BLOCK_LIMITS[(kind, "text")]:
            return f"{kind} text over {BLOCK_LIMITS[(kind, 'text')]} characters"
    fields = block.get("fields") or []
    if len(fields) > BLOCK_LIMITS[("section", "fields")]:
        return "more than 10 fields"
    if any(len(f.get("text", "")) > BLOCK_LIMITS[("section", "field")] for f in fields):
        return "a field over 2000 characters"
    elements = block.get("elements") or []
    if (kind, "elements") in BLOCK_LIMITS and len(elements) > BLOCK_LIMITS[(kind, "elements")]:
        return f"more than {BLOCK_LIMITS[(kind, 'elements')]} {kind} elements"
    for element in elements if kind == "actions" else []:
        label = (element.get("text") or {}).get("text", "")
        if len(label) > BUTTON_TEXT or len(str(element.get("value") or "")) > BUTTON_VALUE:
            return "a button's text or value is too long"
        if len(str(element.get("action_id") or "")) > ID_LENGTH:
            return "action_id too long"
    return None


def _faulted(fault: Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
    if fault.retry_after is not None:
        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
    if fault.status != 200:
        return fault.status, {"ok": False, "error": "internal_error"}, {}
    return 200, {"ok": False, "error": fault.error or "fatal_error"}, {}


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return list(value or [])


def _as_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        value = json.loads(value) if value else None
    found: dict[str, Any] | None = value
    return found


def _metadata(value: Any) -> dict[str, Any] | None:
    """Message metadata as Slack keeps it; ValueError when it is malformed."""
    given = _as_dict(value)  # a JSONDecodeError is a ValueError
    if not given:
        return None
    if not isinstance(given, dict) or not given.get("event_type"):
        raise ValueError("metadata needs an event_type")
    return {"event_type": given["event_type"], "event_payload": given.get("event_payload") or {}}


def _mimetype(name: str) -> str:
    """What Slack makes of a file's type from its name."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def _html_page(title: str) -> bytes:
    """An HTML page of Slack's site, such as the sign-in page a refused download lands on."""
    return (
        '<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8">'
        f"<title>{title} | Slack</title></head><body><h1>{title}</h1></body></html>"
    ).encode()


def _form_file(raw: bytes, content_type: str) -> bytes:
    """The file in a multipart form: the part with a filename, else the first part."""
    form = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    parts = list(form.iter_parts()) if form.is_multipart() else []
    chosen = next((part for part in parts if part.get_filename()), parts[0] if parts else None)
    payload = chosen.get_payload(decode=True) if chosen is not None else None
    return payload if isinstance(payload, bytes) else b""


def _rich_text(text: str) -> list[dict[str, Any]]:
    """The block Slack's client attaches to what a person types."""
    return [
        {
            "type": "rich_text",
            "block_id": uuid.uuid4().hex[:5],
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
            ],
        }
    ]


def _include_metadata(p: dict[str, Any]) -> bool:
    value = p.get("include_all_metadata")
    return (value.lower() if isinstance(value, str) else value) in TRUTHY


def _timestamp(raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError(f"not a timestamp: {raw!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a timestamp: {raw!r}")
    return value


def _limit(p: dict[str, Any], default: int) -> int:
    try:
        limit = int(p.get("limit") or 0)
    except (TypeError, ValueError):
        limit = 0
    return min(limit, 999) if limit > 0 else default


def _window(messages: list[StoredMessage], p: dict[str, Any]) -> list[StoredMessage] | str:
    """Messages between ``oldest`` and ``latest``: exclusive, unless ``inclusive`` is set."""
    bounds: dict[str, Decimal | None] = {}
    for name in ("oldest", "latest"):
        raw = p.get(name)
        try:
            bounds[name] = _timestamp(raw) if raw not in (None, "") else None
        except ValueError:
            return f"invalid_ts_{name}"
    oldest, latest = bounds["oldest"], bounds["latest"]
    inclusive = str(p.get("inclusive") or "").lower() in {"1", "true"}
    kept = []
    for m in messages:
        ts = Decimal(m.ts)
        if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
            continue
        if latest is not None and (ts > latest or (ts == latest and not inclusive)):
            continue
        kept.append(m)
    return kept


def _page(
    ordered: list[StoredMessage], cursor: str | None, limit: int, *, older: bool
) -> tuple[list[StoredMessage], str] | None:
    """One page after ``cursor`` (None if it is not one of ours) and the next page's cursor."""
    if cursor:
        try:
            decoded = base64.b64decode(cursor, validate=True).decode()
            after = _timestamp(decoded.removeprefix("next_ts:"))
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
            return None
        if older:
            ordered = [m for m in ordered if Decimal(m.ts) < after]
        else:
            ordered = [m for m in ordered if Decimal(m.ts) > after]
    found, rest = ordered[:limit], ordered[limit:]
    # Like Slack's, the cursor is base64 of "next_ts:<ts of the last message given>".
    next_cursor = base64.b64encode(f"next_ts:{found[-1].ts}".encode()).decode() if rest else ""
    return found, next_cursor


class _Handler(BaseHTTPRequestHandler):
    owner: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``StandIn.calls``, not an access log."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/files-pri/"):
            self._answer_download(path, head=True)
        else:
            self._send(405, b"", {}, "text/plain", head=True)

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        method = parts.path.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
        raw = self._body()
        if parts.path.startswith("/upload/"):
            self._answer_upload(method, raw)
            return
        if self.command == "GET" and parts.path.startswith("/files-pri/"):
            self._answer_download(parts.path)
            return
        if self.command == "GET" and parts.path == "/":  # where a refused download is sent
            self._send(200, _html_page("Sign in to Slack"), {}, "text/html; charset=utf-8")
            return
        if raw.strip():
            if raw.lstrip().startswith(b"{"):
                params.update(json.loads(raw))
            else:
                params.update(parse_qsl(raw.decode(), keep_blank_values=True))
        auth = self.headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").strip() or params.pop("token", None)
        status, body, headers, drop = self.owner.handle(method, token, params)
        if drop:
            self._drop()
            return
        self._send(status, json.dumps(body).encode(), headers)

    def _body(self) -> bytes:
        """The request's body, sent with a length or in chunks."""
        if "chunked" not in (self.headers.get("transfer-encoding") or "").lower():
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""
        pieces = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            pieces.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline().strip():  # trailers, up to the blank line
            pass
        return b"".join(pieces)

    def _answer_upload(self, ticket: str, raw: bytes) -> None:
        """Slack takes the bytes raw or as a multipart form's file, and answers in plain
        text."""
        content_type = self.headers.get("content-type") or ""
        content = _form_file(raw, content_type) if "multipart/form-data" in content_type else raw
        status, answer, drop = self.owner.upload(ticket, content)
        if drop:
            self._drop()
            return
        self._send(status, answer, {}, "text/plain; charset=utf-8")

    def _answer_download(self, path: str, *, head: bool = False) -> None:
        answer = self.owner.download(path, self.headers.get("authorization"))
        stored = answer.file
        if stored is None:
            self._send(
                answer.status, answer.page or b"", answer.headers, answer.content_type, head=head
            )
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", stored.mimetype)
        self.send_header("Content-Length", str(stored.size))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            return
        cut = stored.size // 2 if answer.drop else stored.size
        sent = 0
        try:
            for chunk in stored.chunks():
                chunk = chunk[: cut - sent]
                self.wfile.write(chunk)
                sent += len(chunk)
                if sent >= cut:
                    break
        except (BrokenPipeError, ConnectionResetError):  # the reader stopped reading
            self.close_connection = True
            return
        if sent != stored.size:  # cut short (or made short): the reader sees it end early
            self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    def _send(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str],
        content_type: str = "application/json; charset=utf-8",
        *,
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(payload)
