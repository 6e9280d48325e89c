"""``lore serve`` and ``lore keys``: run the HTTP server and manage its API keys."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, get_args

import click

from lore.cli_common import LoreUsageError
from lore.config import LoreConfig
from lore.errors import LoreError
from lore.serve.control import open_control
from lore.serve.keys import ANY_COLLECTION, KeyStore, Scope

F = TypeVar("F", bound=Callable[..., Any])


def serve_config(data_dir: Path | None, store: str | None = None) -> LoreConfig:
    config = LoreConfig.from_env(os.environ)
    if data_dir is not None:
        config = dataclasses.replace(config, serve=dataclasses.replace(config.serve,
                                                                       data_dir=data_dir))
    if store is not None:
        config = dataclasses.replace(config, store=store)
    return config


def data_dir_option(command: F) -> F:
    command = click.option(
        "--store", help="A postgresql:// URL: keys, collections, jobs and documents live "
        "there, shared by every server given the same URL (default: $LORE_STORE, else the "
        "data directory).")(command)
    return click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
                        help="Server data directory (default: $LORE_SERVE_DIR, else "
                             "./.lore-server).")(command)


@click.command()
@click.option("--host", envvar="LORE_HOST", help="Interface to bind (default 127.0.0.1: this "
              "machine only; 0.0.0.0 exposes the server to the network).")
@click.option("--port", envvar="LORE_PORT", type=click.IntRange(1, 65535),
              help="Port (default 8000).")
@data_dir_option
def serve(host: str | None, port: int | None, data_dir: Path | None, store: str | None
          ) -> None:
    """Run the HTTP API, the OpenAI-compatible /v1 endpoints and the web page. Several
    servers given one --store are replicas: any of them serves any request."""
    import uvicorn

    from lore.serve.app import create_app

    config = serve_config(data_dir, store)
    host = host or config.serve.host
    port = port or config.serve.port
    try:
        app = create_app(config)
    except LoreError as error:
        raise LoreUsageError(str(error)) from None
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"lore serving {config.serve.data_dir.resolve()} at http://{shown}:{port}/ "
               f"(web page there; API schema at /openapi.json)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=30)


@click.group()
def keys() -> None:
    """API keys of the server: each reads or writes one collection (or admin: all)."""


@keys.command("create")
@click.option("--collection", help="The collection the key covers (not with --scope admin).")
@click.option("--scope", type=click.Choice(get_args(Scope)), default="read", show_default=True)
@click.option("--label", default="", help="A note to recognise the key by.")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for programs.")
def create_key(collection: str | None, scope: Scope, label: str, data_dir: Path | None,
               store: str | None, as_json: bool) -> None:
    """Create a key and print it once: only its hash is stored."""
    if scope == "admin":
        collection = collection or ANY_COLLECTION
    elif not collection:
        raise click.UsageError("name the collection: --collection NAME (or --scope admin)")
    keys = _keys(data_dir, store)
    try:
        token = keys.create(collection, scope, label)
    except LoreError as error:
        raise click.UsageError(str(error)) from None
    if as_json:
        click.echo(json.dumps({"key": token, "collection": collection, "scope": scope}))
    else:
        click.echo(token)
        click.echo(f"{scope} key for {collection}; it is shown only now", err=True)


@keys.command("list")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for programs.")
def list_keys(data_dir: Path | None, store: str | None, as_json: bool) -> None:
    """Key ids, collections, scopes and whether they are revoked (never the secrets)."""
    found = _keys(data_dir, store).list()
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(k) for k in found]))
        return
    for key in found:
        state = "revoked" if key.revoked else "live"
        click.echo(f"{key.id}  {key.scope:<5}  {key.collection:<20}  {state}  {key.label}")


@keys.command("revoke")
@click.argument("key_id")
@data_dir_option
def revoke_key(key_id: str, data_dir: Path | None, store: str | None) -> None:
    """Revoke a key by its id (`lore keys list` shows ids)."""
    if not _keys(data_dir, store).revoke(key_id):
        raise click.UsageError(f"no live key with id {key_id!r}; `lore keys list` shows them")
    click.echo(f"revoked {key_id}")


def _keys(data_dir: Path | None, store: str | None) -> KeyStore:
    try:
        return KeyStore(open_control(serve_config(data_dir, store), "keys"))
    except LoreError as error:
        raise LoreUsageError(str(error)) from None
