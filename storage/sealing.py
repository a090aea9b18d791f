"""Secrets Baton must use later (webhook signing secrets) are kept encrypted, never in clear."""

import base64
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SealError(Exception):
    pass


class SecretBox:
    """Encrypts and decrypts with the instance's secret key (Fernet: AES-128-CBC + HMAC)."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise SealError(
                "the secret key must be 32 url-safe base64-encoded bytes; "
                "make one with: python -c 'import base64,os;"
                "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
            ) from exc

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SealError("a stored secret cannot be decrypted with this secret key") from exc


def new_secret_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def load_or_create_key_file(path: Path) -> str:
    """The embedded default keeps its key in a file beside the database, readable by its owner."""
    if path.exists():
        return path.read_text().strip()
    key = new_secret_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
