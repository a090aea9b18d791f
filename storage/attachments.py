"""Files crossing between Slack and the customer, either way.

To the customer: an agent's file shared in the card's thread is recorded with Slack's
download URL, and the customer's side gets Baton's own link to it (``storage.file_links``).
To an agent: a customer's attachment is recorded with its URL and a ``file.upload`` row in
the Slack outbox, written with the message it came with, after that message's thread post.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select, update
from sqlmodel import col

from storage.database import Database
from storage.ids import new_id
from storage.models import Escalation, FileAttachment, FileDirection, FileState, OutboxRow
from storage.outbox.rows import SlackEffect, slack_row_for

# A transcript may carry hundreds of attachments: the newest are uploaded into the thread
# (the transcript shows every one as its link).
UPLOADS_PER_CREATE = 20
NAME_CHARS = 255


@dataclass(frozen=True)
class SlackFile:
    """A file an agent shared in Slack, as its event (or files.info) describes it."""

    file_id: str
    name: str
    mime_type: str | None
    size: int
    download_url: str


def to_customer(esc_id: str, message_id: str, file: SlackFile, now: datetime) -> FileAttachment:
    return FileAttachment(
        id=new_id("att"),
        escalation_id=esc_id,
        message_id=message_id,
        direction=FileDirection.to_customer,
        state=FileState.relayed,
        name=clean_name(file.name) or file.file_id,
        mime_type=file.mime_type,
        size=file.size,
        source_url=file.download_url,
        slack_file_id=file.file_id,
        created_at=now,
        updated_at=now,
    )


def uploads(
    esc_id: str,
    platform_id: str | None,
    messages: Iterable[tuple[str, Sequence[Mapping[str, Any]]]],
    now: datetime,
    *,
    most: int | None = None,
) -> tuple[list[dict[str, Any]], list[OutboxRow]]:
    """The attachment rows (as column values) and the ``file.upload`` outbox rows for the
    attachments of ``messages`` (message id, its attachments), oldest first; with ``most``,
    only the newest that many."""
    found = [(msg_id, a) for msg_id, attachments in messages for a in attachments if a.get("url")]
    if most is not None:
        found = found[-most:] if most else []
    values, rows = [], []
    for msg_id, attachment in found:
        att_id = new_id("att")
        values.append(
            {
                "id": att_id,
                "escalation_id": esc_id,
                "message_id": msg_id,
                "direction": FileDirection.to_agent.value,
                "state": FileState.pending.value,
                "name": _name(attachment),
                "mime_type": attachment.get("mime_type"),
                "size": None,
                "source_url": str(attachment["url"]),
                "slack_file_id": None,
                "error": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        payload = {"attachment_id": att_id}
        rows.append(slack_row_for(esc_id, platform_id, SlackEffect.FILE_UPLOAD, now, payload))
    return values, rows


def _name(attachment: Mapping[str, Any]) -> str:
    """The attachment's name, or the last part of its URL's path."""
    name = attachment.get("name")
    if isinstance(name, str) and clean_name(name):
        return clean_name(name)
    path = str(attachment["url"]).split("?", 1)[0].split("#", 1)[0].rstrip("/")
    tail = path.rsplit("/", 1)[-1] if "/" in path.split("://", 1)[-1] else ""
    return clean_name(unquote(tail)) or "attachment"


def clean_name(name: str) -> str:
    """A file's name as Baton keeps and shows it: one line, no control characters or lone
    surrogates, at most ``NAME_CHARS`` characters."""
    kept = "".join(c for c in name if c.isprintable() and not "\ud800" <= c <= "\udfff")
    return kept.strip()[:NAME_CHARS]


async def load(db: Database, attachment_id: str) -> FileAttachment | None:
    async with db.read() as s:
        return await s.get(FileAttachment, attachment_id)


async def upload_started(db: Database, attachment_id: str, slack_file_id: str) -> None:
    """The file Slack made for the upload, recorded before its bytes are sent: a retry
    asks Slack about it before uploading again."""
    await _set(db, attachment_id, slack_file_id=slack_file_id)


async def uploaded(db: Database, attachment_id: str, size: int | None = None) -> None:
    values: dict[str, Any] = {"state": FileState.uploaded.value, "error": None}
    if size is not None:
        values["size"] = size
    await _set(db, attachment_id, **values)


async def upload_failed(db: Database, attachment_id: str, reason: str) -> None:
    await _set(db, attachment_id, state=FileState.failed.value, error=reason)


async def _set(db: Database, attachment_id: str, **values: Any) -> None:
    async with db.write(notify=False) as s:
        await s.execute(
            update(FileAttachment)
            .where(col(FileAttachment.id) == attachment_id)
            .values(updated_at=db.clock.now(), **values)
        )


async def for_customer(db: Database, attachment_id: str) -> tuple[FileAttachment, str] | None:
    """An agent's file relayed to the customer, and the platform of its escalation."""
    stmt = (
        select(FileAttachment, col(Escalation.platform_id))
        .join(Escalation, col(Escalation.id) == col(FileAttachment.escalation_id))
        .where(
            col(FileAttachment.id) == attachment_id,
            col(FileAttachment.direction) == FileDirection.to_customer.value,
        )
    )
    async with db.read() as s:
        found = (await s.execute(stmt)).first()
    return None if found is None else (found[0], found[1])
