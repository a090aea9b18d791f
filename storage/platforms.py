"""Bot platforms and their API keys. Keys are stored as a visible prefix plus a hash.

A platform has one live key; rotating it revokes the old one in the same transaction. A
removed platform is one without a live key: its row stays, for its escalations.
"""

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.database import Database
from storage.errors import StorageError
from storage.ids import new_id
from storage.models import ApiKey, Platform
from storage.sealing import SecretBox

KEY_PREFIX = "btn_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8


class PlatformNames:
    """Platform names by id. Platforms are never renamed, so each is read once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._names: dict[str, str] = {}

    async def get(self, platform_id: str) -> str:
        name = self._names.get(platform_id)
        if name is None:
            async with self.db.read() as s:
                stmt = select(col(Platform.name)).where(col(Platform.id) == platform_id)
                name = self._names[platform_id] = (await s.execute(stmt)).scalar_one()
        return name


class PlatformExists(StorageError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a platform named {name!r} already exists")


class PlatformNotFound(StorageError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no platform is named {name!r}")


class PlatformRemoved(StorageError):
    def __init__(self, name: str) -> None:
        super().__init__(f"the platform {name!r} was removed")


@dataclass(frozen=True)
class NewPlatform:
    """What registration answers, once: the key and the secret are not kept in clear."""

    platform: Platform
    api_key: str
    webhook_secret: str


@dataclass(frozen=True)
class KeyOwner:
    key_id: str
    platform_id: str
    platform_name: str


@dataclass(frozen=True)
class PlatformListing:
    """A platform as an operator sees it: never its secrets, only its key's visible start."""

    platform: Platform
    key_prefix: str | None  # None once removed

    @property
    def removed(self) -> bool:
        return self.key_prefix is None


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def _key_row(platform_id: str, api_key: str, now: datetime) -> ApiKey:
    return ApiKey(
        id=new_id("key"),
        platform_id=platform_id,
        prefix=api_key[:PREFIX_LENGTH],
        key_hash=hash_key(api_key),
        created_at=now,
    )


async def add_platform(db: Database, box: SecretBox, name: str, callback_url: str) -> NewPlatform:
    now = db.clock.now()
    api_key, webhook_secret = _new_api_key(), _new_webhook_secret()
    platform = Platform(
        id=new_id("plt"),
        name=name,
        callback_url=callback_url,
        webhook_secret_sealed=box.seal(webhook_secret),
        created_at=now,
    )
    key = _key_row(platform.id, api_key, now)
    try:
        async with db.write() as s:
            s.add(platform)
            await s.flush()
            s.add(key)
    except IntegrityError as exc:
        raise PlatformExists(name) from exc
    return NewPlatform(platform, api_key, webhook_secret)


async def find_key_owner(db: Database, api_key: str) -> KeyOwner | None:
    if not api_key.startswith(KEY_PREFIX) or len(api_key) <= PREFIX_LENGTH:
        return None
    async with db.read() as s:
        row = (
            await s.execute(
                select(col(ApiKey.id), col(ApiKey.key_hash), col(Platform.id), col(Platform.name))
                .join(Platform, col(Platform.id) == ApiKey.platform_id)
                .where(
                    col(ApiKey.prefix) == api_key[:PREFIX_LENGTH], col(ApiKey.revoked_at).is_(None)
                )
            )
        ).first()
    if row is None or not hmac.compare_digest(row[1], hash_key(api_key)):
        return None
    return KeyOwner(key_id=row[0], platform_id=row[2], platform_name=row[3])


async def platform_of(db: Database, platform_id: str) -> Platform:
    """The platform with this id, which must exist (a removed platform's row stays)."""
    async with db.read() as s:
        return (
            await s.execute(select(Platform).where(col(Platform.id) == platform_id))
        ).scalar_one()


async def list_platforms(db: Database) -> list[Platform]:
    async with db.read() as s:
        return list((await s.execute(select(Platform).order_by(Platform.name))).scalars())


async def list_with_keys(db: Database) -> list[PlatformListing]:
    """Every platform, removed ones too, by name, with its live key's prefix."""
    live = (
        select(col(ApiKey.platform_id), col(ApiKey.prefix))
        .where(col(ApiKey.revoked_at).is_(None))
        .subquery()
    )
    stmt = (
        select(Platform, live.c.prefix)
        .outerjoin(live, live.c.platform_id == Platform.id)
        .order_by(Platform.name)
    )
    async with db.read() as s:
        return [PlatformListing(p, prefix) for p, prefix in (await s.execute(stmt)).all()]


async def rotate_credentials(
    db: Database, name: str, box: SecretBox | None = None
) -> tuple[str, str | None]:
    """A new API key for the platform, the old one revoked in the same transaction, and with
    ``box`` a new webhook secret too; both returned once."""
    api_key = _new_api_key()
    secret = _new_webhook_secret() if box is not None else None
    async with db.write() as s:
        platform = await _live_platform(s, name)
        await _revoke_keys(s, platform.id, db.clock.now())
        s.add(_key_row(platform.id, api_key, db.clock.now()))
        if box is not None and secret is not None:
            platform.webhook_secret_sealed = box.seal(secret)
    return api_key, secret


async def set_callback(db: Database, name: str, callback_url: str) -> None:
    """Where the platform's events go from the next delivery on (the URL checked first)."""
    async with db.write() as s:
        platform = await _live_platform(s, name)
        platform.callback_url = callback_url


async def remove_platform(db: Database, name: str) -> None:
    """Revoke every key of the platform; it and its escalations stay in the database."""
    async with db.write() as s:
        platform = await _live_platform(s, name)
        await _revoke_keys(s, platform.id, db.clock.now())


async def _live_platform(s: AsyncSession, name: str) -> Platform:
    """The platform, locked for this transaction (two rotations at once must not leave two
    live keys); refused if it was removed."""
    stmt = select(Platform).where(col(Platform.name) == name).with_for_update()
    platform = (await s.execute(stmt)).scalar_one_or_none()
    if platform is None:
        raise PlatformNotFound(name)
    live = await s.execute(
        select(col(ApiKey.id)).where(
            col(ApiKey.platform_id) == platform.id, col(ApiKey.revoked_at).is_(None)
        )
    )
    if live.first() is None:
        raise PlatformRemoved(name)
    return platform


async def _revoke_keys(s: AsyncSession, platform_id: str, now: datetime) -> None:
    await s.execute(
        update(ApiKey)
        .where(col(ApiKey.platform_id) == platform_id, col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=now)
    )
