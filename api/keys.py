"""Turning a bearer API key into its platform, with a short in-memory cache."""

import hashlib
import time
from dataclasses import dataclass, field

from storage.database import Database
from storage.platforms import KeyOwner, find_key_owner

CACHE_SECONDS = 30.0


@dataclass
class KeyCache:
    db: Database
    ttl: float = CACHE_SECONDS
    _entries: dict[str, tuple[float, KeyOwner]] = field(default_factory=dict)

    async def owner(self, api_key: str) -> KeyOwner | None:
        # Cached by the key's hash, so the cache holds no key in clear either.
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        hit = self._entries.get(digest)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        owner = await find_key_owner(self.db, api_key)
        if owner is None:
            self._entries.pop(digest, None)
            return None
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (now, owner)
        return owner
