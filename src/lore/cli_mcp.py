"""``lore mcp``: serve one knowledge base to an MCP client over stdio.

A client starts it as a subprocess; for example, in a client's server list::

    {"command": "lore", "args": ["mcp", "--kb", "/home/me/notes-kb"]}
"""

from __future__ import annotations

import os
from pathlib import Path

import click

import lore
from lore.api import resolve_kb_dir
from lore.cli_common import given_store, kb_option
from lore.errors import LoreError


@click.command()
@kb_option
def mcp(kb: Path | None) -> None:
    """Serve a knowledge base to MCP clients over stdio: tools `search` and `ask`.

    Stdout carries the protocol; messages go to stderr. Over HTTP, `lore serve` offers the
    same tools at /mcp, with API keys.
    """
    from lore.serve.mcp import local_server

    directory = resolve_kb_dir(kb, os.environ)
    try:
        base = lore.open(directory, create=False, store=given_store())
    except LoreError as error:
        raise click.ClickException(str(error)) from None
    with base:
        documents = base.status().documents
        hint = "" if documents else "; it is empty: index files with `lore index PATH --kb DIR`"
        click.echo(f"lore MCP server on stdio for {directory} ({documents} documents{hint})",
                   err=True)
        local_server(base).run("stdio")
