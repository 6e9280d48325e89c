"""What one server holds: its settings, keys, collections, ingestion jobs and answer gate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, Request

from lore.api import KnowledgeBase
from lore.config import LoreConfig
from lore.records import ShowPath
from lore.serve.collections import Collections
from lore.serve.control import open_control
from lore.serve.errors import ApiError, not_found, unauthorized
from lore.serve.gate import AnswerGate
from lore.serve.jobs import Jobs
from lore.serve.keys import Key, KeyStore, Scope


@dataclass
class Server:
    config: LoreConfig
    keys: KeyStore
    collections: Collections
    jobs: Jobs
    gate: AnswerGate

    @classmethod
    def open(cls, config: LoreConfig) -> Server:
        """The server over ``config.serve.data_dir``; with a PostgreSQL ``config.store``, one
        replica of those sharing its keys, collections and jobs."""
        data_dir = config.serve.data_dir.expanduser()
        data_dir.mkdir(parents=True, exist_ok=True)
        jobs_db = open_control(config, "jobs")
        collections = Collections(data_dir, config, jobs_db if jobs_db.shared else None)
        return cls(config, KeyStore(open_control(config, "keys")), collections,
                   Jobs(jobs_db, collections, config.serve.job_lease),
                   AnswerGate(config.serve.ask_queue))

    def close(self) -> None:
        self.jobs.close()
        self.collections.close()
        self.keys.close()

    def show_path(self, collection: str) -> ShowPath:
        """Stored paths as clients see them: ``<document id>/<name>``, never a server path."""
        files = self.collections.place(collection).stored_root + "/"

        def show(path: str) -> str:
            return path.removeprefix(files) if path.startswith(files) else Path(path).name
        return show


def server(request: Request) -> Server:
    found: Server = request.app.state.server
    return found


def authenticate(request: Request) -> Key:
    """The request's live API key (``Authorization: Bearer lore_...``), or 401."""
    return key_for(server(request), request.headers.get("authorization", ""))


def key_for(state: Server, header: str) -> Key:
    """The live key an ``Authorization`` header names, or 401 saying what is wrong."""
    scheme, _, token = header.partition(" ")
    if not header:
        raise unauthorized("no API key: send 'Authorization: Bearer <key>'; create one with "
                           "`lore keys create`")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("malformed Authorization header: use 'Bearer <key>'")
    key = state.keys.verify(token.strip())
    if key is None:
        raise unauthorized("the API key is unknown or revoked; create a new one with "
                           "`lore keys create`")
    return key


def access(state: Server, key: Key, collection: str, scope: Scope) -> str:
    """``collection`` if ``key`` may act on it with ``scope``. A key that cannot read a
    collection gets the same 404 as for one that does not exist, so nothing can be inferred."""
    if not key.sees(collection) or not state.collections.exists(collection):
        raise not_found(f"collection {collection!r}")
    if not key.allows(collection, scope):
        raise ApiError(403, "forbidden", f"this key may only {key.scope} collection "
                       f"{collection!r}; use a key with the {scope} scope")
    return collection


def reader(state: Server, key: Key, collection: str) -> KnowledgeBase:
    return state.collections.reader(access(state, key, collection, "read"))


ServerDep = Depends(server)
KeyDep = Depends(authenticate)
