"""``lore graph``: the concept graph's size, its communities, and its export."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import get_args

import click

from lore.cli_common import LoreUsageError, json_option, kb_option, opened
from lore.cli_output import shown, stdout
from lore.graph.export import FORMATS, ExportFormat


@click.group(name="graph")
def graph_group() -> None:
    """The concept graph built with the index: concepts linked by the chunks that mention
    them, grouped into communities."""


@graph_group.command(name="stats")
@kb_option
@json_option
def stats(kb: Path | None, as_json: bool) -> None:
    """Concepts, links, communities per level, and the time the graph took to build."""
    with opened(kb) as base:
        facts = base.graph_stats()
    if as_json:
        click.echo(json.dumps(facts))
        return
    labels = {"concepts_read": "concepts read", "nodes": "in the graph", "edges": "links",
              "top_communities": "communities", "communities": "at all levels",
              "levels": "levels", "modularity": "modularity", "chunks": "chunks",
              "chunks_placed": "placed", "seconds": "built in (s)"}
    for key, label in labels.items():
        stdout.print(f"{label:>15}  {facts[key]:,}")


@graph_group.command(name="communities")
@kb_option
@click.option("--level", type=click.IntRange(0), default=0, show_default=True,
              help="0 for the top level; each level below splits the large ones.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@json_option
def communities(kb: Path | None, level: int, limit: int, as_json: bool) -> None:
    """The communities of one level, the largest first: their central concepts and the
    documents most of their chunks come from."""
    with opened(kb) as base:
        found = base.communities(level, limit)
    if as_json:
        click.echo(json.dumps([{**asdict(view.summary), "documents": list(view.documents)}
                               for view in found], ensure_ascii=False))
        return
    if not found:
        stdout.print(f"no communities at level {level}: `lore graph stats` shows the levels")
    for view in found:
        summary = view.summary
        stdout.print(f"[bold]{summary.id}[/bold]  {_count(summary.chunks, 'chunk')}, "
                     f"{_count(summary.concepts, 'concept')}, "
                     f"{_count(summary.children, 'community', 'communities')} below")
        stdout.print(f"    {shown(', '.join(summary.central))}")
        if view.documents:
            stdout.print(f"    [dim]{shown('; '.join(view.documents))}[/dim]")


@graph_group.command(name="export")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@kb_option
@click.option("--format", "form", type=click.Choice(FORMATS),
              help="Default: from PATH's suffix (.graphml or .json).")
@json_option
def export(path: Path, kb: Path | None, form: ExportFormat | None, as_json: bool) -> None:
    """Write the graph for Gephi, Cytoscape or networkx: GraphML, or node-link JSON."""
    chosen = form or _format_of(path)
    with opened(kb) as base:
        facts = base.export_graph(path, chosen)
    if as_json:
        click.echo(json.dumps({"path": str(path), "format": chosen, **facts}))
    else:
        stdout.print(f"wrote {facts['nodes']:,} concepts and {facts['edges']:,} links to "
                     f"{shown(str(path))}")


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number:,} {one if number == 1 else many or one + 's'}"


def _format_of(path: Path) -> ExportFormat:
    suffix = path.suffix.lower().lstrip(".")
    for form in get_args(ExportFormat):
        if suffix == form:
            return form  # type: ignore[no-any-return]
    raise LoreUsageError(f"cannot tell the format of {path.name} from its suffix: name it "
                         ".graphml or .json, or give --format graphml|json")
