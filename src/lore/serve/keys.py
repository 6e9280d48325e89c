"""API keys: per-collection scopes, stored only as hashes.

A key reads ``lore_<id>_<secret>``. The id finds the row; the secret is checked against its
SHA-256 in constant time. Secrets are 32 random bytes, so a fast hash is enough: there is
nothing to brute-force that a slow hash would protect.

>>> keys = KeyStore(open_control(config, "keys"))
>>> token = keys.create("docs", "read")          # shown once, never stored
>>> key = keys.verify(token)
>>> key.allows("docs", "read"), key.allows("other", "read")
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal, get_args

from lore.errors import ConfigError
from lore.serve.control import ControlDb, create_tables

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
ANY_COLLECTION = "*"
"""The collection of an admin key: every collection, and creating and deleting them."""
_RANK = {"read": 0, "write": 1, "admin": 2}
_PREFIX = "lore_"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    collection TEXT NOT NULL,
    scope TEXT NOT NULL,
    label TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    revoked DOUBLE PRECISION
)
"""


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    collection: str
    scope: Scope
    label: str
    created: float
    revoked: float | None = None

    def allows(self, collection: str, scope: Scope) -> bool:
        """Whether this key may act on ``collection`` with ``scope``."""
        if self.revoked is not None:
            return False
        if self.scope == "admin":
            return True
        return self.collection == collection and _RANK[self.scope] >= _RANK[scope]

    def sees(self, collection: str) -> bool:
        """Whether this key may learn that ``collection`` exists."""
        return self.allows(collection, "read")


class KeyStore:
    """Keys in the server's tables (``lore.serve.control``); safe to share between threads,
    and between servers when the tables are in PostgreSQL."""

    def __init__(self, db: ControlDb) -> None:
        self._db = db
        create_tables(db, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def create(self, collection: str, scope: Scope, label: str = "") -> str:
        """A new key; the returned token is the only copy of its secret."""
        if scope not in SCOPES:
            raise ConfigError(f"unknown scope {scope!r}; choose from {', '.join(SCOPES)}")
        if (scope == "admin") != (collection == ANY_COLLECTION):
            raise ConfigError("an admin key covers every collection (collection '*'); a read "
                              "or write key names one collection")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        self._db.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                         (key_id, _digest(secret), collection, scope, label, time.time()))
        return f"{_PREFIX}{key_id}_{secret}"

    def verify(self, token: str) -> Key | None:
        """The live key this token belongs to, or None (unknown, malformed or revoked)."""
        parts = token.removeprefix(_PREFIX).split("_", 1) if token.startswith(_PREFIX) else []
        if len(parts) != 2:
            return None
        key_id, secret = parts
        row = self._db.one("SELECT hash, id, collection, scope, label, created, revoked FROM "
                           "keys WHERE id = ?", (key_id,))
        if row is None or not hmac.compare_digest(row[0], _digest(secret)):
            return None
        key = Key(*row[1:])
        return key if key.revoked is None else None

    def list(self) -> list[Key]:
        rows = self._db.all("SELECT id, collection, scope, label, created, revoked FROM keys "
                            "ORDER BY created")
        return [Key(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; False when there is no such live key."""
        return self._db.execute("UPDATE keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
                                (time.time(), key_id)) == 1

    def revoke_collection(self, collection: str) -> None:
        """Revoke every key of a deleted collection: a new one of the same name starts clean."""
        self._db.execute("UPDATE keys SET revoked = ? WHERE collection = ? AND revoked IS NULL",
                         (time.time(), collection))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
