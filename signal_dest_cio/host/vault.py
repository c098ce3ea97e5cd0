"""Destination configs are stored encrypted (Fernet: AES-128-CBC with HMAC-SHA256).

The key comes from `SIGNAL_SECRET_KEY`, else from a key file beside the
database (created once, mode 0600), else (an in-memory database) it lives only
as long as the process. A host refuses to start with a key that cannot open what
is stored (`Store.check_vault`); `signal-cio rotate-key` re-seals every stored
config under a new key (`rotate`, MultiFernet).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_ENV = "SIGNAL_SECRET_KEY"


class VaultError(Exception):
    """The key cannot open what was stored with another key."""


class Vault:
    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as error:
            raise VaultError(
                f"{KEY_ENV} must be a Fernet key (32 url-safe base64 bytes)"
            ) from error

    @classmethod
    def for_database(cls, path: str, key: str | None = None) -> Vault:
        key = key or os.environ.get(KEY_ENV)
        if key:
            return cls(key)
        if path == ":memory:" or path.startswith("file::memory:"):
            return cls(Fernet.generate_key())
        if path.startswith(("postgresql://", "postgres://")):
            # Many processes on many machines: the key is one setting they all share,
            # never a file beside a database that has no file.
            raise VaultError(
                f"a host on PostgreSQL needs {KEY_ENV} (a Fernet key, the same on every "
                "host process); create one with: python3 -c 'from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())'"
            )
        return cls(_key_file(Path(path + ".key")))

    @staticmethod
    def key_path(path: str) -> Path:
        return Path(path + ".key")

    def rotated(self, new: Vault) -> MultiFernet:
        """Opens with this key or the new one, seals with the new one."""
        return MultiFernet([new._fernet, self._fernet])

    def reseal(self, token: str, new: Vault) -> str:
        """`token` (sealed with this key) sealed again with `new`'s key."""
        try:
            return self.rotated(new).rotate(token.encode()).decode()
        except InvalidToken:
            raise VaultError(
                "a stored config cannot be opened with the current key; nothing was changed"
            ) from None

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise VaultError(
                f"stored configs were sealed with another key; set {KEY_ENV} to the key "
                "this database was created with"
            ) from None
        return value


def _key_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    key = Fernet.generate_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    return key
