"""Bot platforms and their API keys. Keys are stored as a visible prefix plus a hash."""

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
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


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


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
    key = ApiKey(
        id=new_id("key"),
        platform_id=platform.id,
        prefix=api_key[:PREFIX_LENGTH],
        key_hash=hash_key(api_key),
        created_at=now,
    )
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
    """The platform with this id, which must exist (platforms are never removed)."""
    async with db.read() as s:
        return (
            await s.execute(select(Platform).where(col(Platform.id) == platform_id))
        ).scalar_one()


async def list_platforms(db: Database) -> list[Platform]:
    async with db.read() as s:
        return list((await s.execute(select(Platform).order_by(Platform.name))).scalars())
