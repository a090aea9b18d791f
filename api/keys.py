"""Turning a bearer API key into its platform.

Looked up on every request (one read through the keys' unique prefix index), not cached:
a key rotated or revoked by `baton platforms rotate-key` or `remove`, in any process,
stops working at once on every replica.
"""

from dataclasses import dataclass

from storage.database import Database
from storage.platforms import KeyOwner, find_key_owner


@dataclass(frozen=True)
class ApiKeys:
    db: Database

    async def owner(self, api_key: str) -> KeyOwner | None:
        return await find_key_owner(self.db, api_key)
