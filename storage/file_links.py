"""Baton's own links to agents' files: ``{public_url}/v1/files/att_…?expires=…&signature=…``.

The signature is an HMAC over the file's id and the link's expiry, with a key derived from
the instance's secret key, so a link made by one replica is good on every other, and a link
cannot be stretched to another file or a later expiry.
"""

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import urlencode

from storage.clock import Clock

DEFAULT_TTL = timedelta(hours=24)
_PURPOSE = b"baton file links v1"


def link_key(secret_key: str) -> bytes:
    """The key for file links, derived from the secret key (never the secret key itself,
    which also seals stored secrets)."""
    return hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()


class FileLinks:
    def __init__(self, public_url: str, key: bytes, clock: Clock, ttl: timedelta = DEFAULT_TTL):
        self.public_url = public_url.rstrip("/")
        self._key, self.clock, self.ttl = key, clock, ttl

    def url(self, attachment_id: str) -> str:
        """A link to the file, good for ``ttl`` from now."""
        expires = int((self.clock.now() + self.ttl).timestamp())
        query = urlencode({"expires": expires, "signature": self._sign(attachment_id, expires)})
        return f"{self.public_url}/v1/files/{attachment_id}?{query}"

    def valid(self, attachment_id: str, expires: str, signature: str) -> bool:
        """Whether the link was made by Baton for this file, and has not expired."""
        if not expires.isdigit() or len(expires) > 12:
            return False
        expected = self._sign(attachment_id, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return False
        return self.clock.now() < datetime.fromtimestamp(int(expires), self.clock.now().tzinfo)

    def _sign(self, attachment_id: str, expires: int) -> str:
        mac = hmac.new(self._key, f"{attachment_id}.{expires}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
