"""``lore graph``: the graphs' sizes, their communities, and their export; and the building
of the model-built knowledge graph that ``lore index --graph llm`` asks for."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, get_args

import click

from lore.api import KnowledgeBase
from lore.cli_common import LoreUsageError, interruptible, json_option, kb_option, opened
from lore.cli_output import StageProgress, shown, stderr, stdout
from lore.graph.export import FORMATS, ExportFormat
from lore.kb_graph import GraphKind
from lore.knowledge.builder import KnowledgePlan, KnowledgeRun
from lore.knowledge.ledger import Spent

graph_option = click.option(
    "--graph", "kind", type=click.Choice(["concepts", "llm"]), default="concepts",
    show_default=True,
    help="concepts: the graph built with the index; llm: the model-built knowledge graph "
         "(`lore index --graph llm`).")


@click.group(name="graph")
def graph_group() -> None:
    """The concept graph built with the index: concepts linked by the chunks that mention
    them, grouped into communities."""


@graph_group.command(name="stats")
@kb_option
@graph_option
@json_option
def stats(kb: Path | None, kind: GraphKind, as_json: bool) -> None:
    """Concepts (or entities), links, communities per level, and the time the graph took
    to build."""
    with opened(kb) as base:
        facts = base.graph_stats(kind)
    if as_json:
        click.echo(json.dumps(facts))
        return
    labels = {"concepts_read": "concepts read", "entities": "entities",
              "relations": "relations", "nodes": "in the graph", "edges": "links",
              "links_dropped": "over the cap",
              "top_communities": "communities", "communities": "at all levels",
              "levels": "levels", "modularity": "modularity", "chunks": "chunks",
              "chunks_placed": "placed", "lines_dropped": "lines dropped",
              "seconds": "built in (s)", "model_calls": "model calls",
              "prompt_tokens": "prompt tokens", "written_tokens": "written tokens",
              "model_seconds": "model time (s)"}
    for key, label in labels.items():
        if key in facts:
            stdout.print(f"{label:>15}  {facts[key]:,}")


@graph_group.command(name="communities")
@kb_option
@click.option("--level", type=click.IntRange(0), default=0, show_default=True,
              help="0 for the top level; each level below splits the large ones.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@graph_option
@json_option
def communities(kb: Path | None, level: int, limit: int, kind: GraphKind, as_json: bool
                ) -> None:
    """The communities of one level, the largest first: their central concepts and the
    documents most of their chunks come from (and the model's summary, in the knowledge
    graph)."""
    with opened(kb) as base:
        found = base.communities(level, limit, kind=kind)
    if as_json:
        click.echo(json.dumps([{**asdict(view.summary), "documents": list(view.documents),
                                "types": list(view.kinds), "summary": view.written}
                               for view in found], ensure_ascii=False))
        return
    if not found:
        stdout.print(f"no communities at level {level}: `lore graph stats` shows the levels")
    nodes = ("entity", "entities") if kind == "llm" else ("concept", "concepts")
    for view in found:
        summary = view.summary
        stdout.print(f"[bold]{summary.id}[/bold]  {_count(summary.chunks, 'chunk')}, "
                     f"{_count(summary.concepts, *nodes)}, "
                     f"{_count(summary.children, 'community', 'communities')} below")
        types = view.kinds or ("",) * len(summary.central)
        central = [f"{name} ({type_})" if type_ else name
                   for name, type_ in zip(summary.central, types, strict=True)]
        stdout.print(f"    {shown(', '.join(central))}")
        if view.written:
            stdout.print(f"    {shown(view.written)}")
        if view.documents:
            stdout.print(f"    [dim]{shown('; '.join(view.documents))}[/dim]")


@graph_group.command(name="export")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@kb_option
@click.option("--format", "form", type=click.Choice(FORMATS),
              help="Default: from PATH's suffix (.graphml or .json).")
@graph_option
@json_option
def export(path: Path, kb: Path | None, form: ExportFormat | None, kind: GraphKind,
           as_json: bool) -> None:
    """Write the graph for Gephi, Cytoscape or networkx: GraphML, or node-link JSON."""
    chosen = form or _format_of(path)
    with opened(kb) as base:
        facts = base.export_graph(path, chosen, kind)
    if as_json:
        click.echo(json.dumps({"path": str(path), "format": chosen, **facts}))
    else:
        stdout.print(f"wrote {facts['nodes']:,} {'entities' if kind == 'llm' else 'concepts'}"
                     f" and {facts['edges']:,} links to {shown(str(path))}")


def build_knowledge(base: KnowledgeBase, model: str | None, as_json: bool) -> dict[str, Any]:
    """``lore index --graph llm``: print what reading the chunks will cost, read them with
    progress bars, and print what it cost. Called inside ``opened``, which turns lore's
    errors into one-line usage errors."""
    plan = base.knowledge_plan(model)
    if not as_json:
        stderr.print(_planned(plan))
    with StageProgress(bars=not as_json) as progress, interruptible(
            "run the same command again to go on: every chunk read so far is kept"):
        run = base.build_knowledge(plan, progress.reporter("reading"),
                                   progress.reporter("summaries"))
    facts = base.knowledge_stats(run.graph)
    if not as_json:
        stderr.print(_done(plan, run, facts))
    return {"model": plan.model, "chunks": plan.chunks, "read": plan.calls,
            "failed": run.failed, "estimated_prompt_tokens": plan.prompt_tokens,
            "extraction": asdict(run.extracted), "summaries": asdict(run.summarised),
            "graph": facts}


def _planned(plan: KnowledgePlan) -> str:
    if not plan.calls:
        return (f"knowledge graph ({plan.model}): all {plan.chunks:,} prose chunks already "
                "read")
    pace = plan.estimated_seconds
    when = f"; about {_duration(pace)} at earlier runs' pace" if pace is not None \
        else "; its time shows once the first chunks are read"
    return (f"knowledge graph ({plan.model}): {plan.calls:,} of {plan.chunks:,} prose "
            f"chunks to read: {plan.calls:,} model calls, {plan.prompt_tokens:,} prompt "
            f"tokens, up to {plan.written_tokens:,} written{when}")


def _done(plan: KnowledgePlan, run: KnowledgeRun, facts: dict[str, float | int]) -> str:
    failed = f" ({run.failed:,} failed: run again to retry them)" if run.failed else ""
    return (f"knowledge graph ({plan.model}): {_spent(run.extracted, 'chunk')} read"
            f"{failed}, {_spent(run.summarised, 'summary', 'summaries')} written; "
            f"{facts['entities']:,} entities, {facts['relations']:,} relations, "
            f"{facts['top_communities']:,} communities")


def _spent(spent: Spent, one: str, many: str | None = None) -> str:
    return (f"{_count(spent.calls, one, many)} in {_duration(spent.seconds)} "
            f"({spent.prompt_tokens:,} prompt tokens, {spent.written_tokens:,} written)")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number:,} {one if number == 1 else many or one + 's'}"


def _format_of(path: Path) -> ExportFormat:
    suffix = path.suffix.lower().lstrip(".")
    for form in get_args(ExportFormat):
        if suffix == form:
            return form  # type: ignore[no-any-return]
    raise LoreUsageError(f"cannot tell the format of {path.name} from its suffix: name it "
                         ".graphml or .json, or give --format graphml|json")
