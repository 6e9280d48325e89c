"""What the command line shows a person: progress bars, hits, reports. Rich, on stderr for
progress and stdout for results, so ``--json`` output stays clean."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.status import Status as RichStatus
from rich.table import Table
from rich.text import Text

from lore.cli_common import stop_if_asked, whole
from lore.doctor import Check
from lore.eval.retrieval import RetrievalReport
from lore.types import Answer, Document, Hit, IndexReport, Skipped, Status, Step

# No emoji codes: ``root:x:0`` in a document stays text, not an emoji.
stdout = Console(highlight=False, soft_wrap=True, emoji=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Characters a terminal acts on rather than shows (escape sequences start with \x1b), and
the bidirectional overrides that make text read other than it is stored."""


def inert(text: str) -> str:
    """``text`` with terminal control and bidi characters written out (``\\x1b``), so that
    a document or file name cannot clear the screen, retitle the window or hide text."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def shown(text: str) -> str:
    """Untrusted text for ``Console.print``: inert, and its [brackets] not read as markup."""
    return escape(inert(text))


class RateColumn(ProgressColumn):
    """Items a second (files, views embedded, questions, steps), once rich has measured one."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f}/s" if speed else "")


class _Bars:
    """Progress bars on stderr, drawn while the object is entered."""

    _progress: Progress

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._progress.stop()


class ProgressListener(_Bars):
    """Draws file, embedding and document progress; optionally streams JSON events."""

    def __init__(self, events: bool = False, bars: bool = True) -> None:
        self._events = events
        self._progress = Progress(
            TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
            RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=stderr, disable=not bars, transient=False)
        self._tasks: dict[str, TaskID] = {}

    def _task(self, name: str, total: int | None = None) -> TaskID:
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task(name, total=total)
        return self._tasks[name]

    def on_scanned(self, files: int) -> None:
        self._task("files", files)

    def on_file(self, path: str) -> None:
        stop_if_asked()
        self._progress.advance(self._task("files"))

    def on_to_embed(self, views: int) -> None:
        task = self._task("embedding", 0)
        total = self._progress.tasks[task].total or 0
        self._progress.update(task, total=total + views)

    def on_embedded(self, views: int) -> None:
        stop_if_asked()
        self._progress.advance(self._task("embedding"), views)

    def on_indexed(self, document: Document, chunks: int) -> None:
        self._progress.advance(self._task("documents"))
        if self._events:
            event_line({"event": "indexed", "path": document.path, "key": document.key,
                        "chunks": chunks})

    def on_concepts(self, done: int, total: int) -> None:
        self._progress.update(self._task("concepts", total), completed=done)

    def on_skipped(self, skipped: Skipped) -> None:
        if self._events:
            event_line({"event": "skipped", "path": skipped.path, "reason": skipped.reason})


def event_line(event: dict[str, object]) -> None:
    """One JSON line on standard output, written whole even when the run is stopped."""
    with whole():
        sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        sys.stdout.flush()


class StageProgress(_Bars):
    """One bar per stage of a long run (training, the knowledge graph), with a note (the
    loss), items a second and the time left."""

    def __init__(self, bars: bool = True) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"), RateColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), console=stderr, disable=not bars)
        self._task: TaskID | None = None
        self._description = ""

    def stage(self, description: str, total: int | None = None) -> None:
        if self._task is not None:
            self._progress.update(self._task, total=self._progress.tasks[self._task].completed)
        self._task = self._progress.add_task(description, total=total, note="")
        self._description = description

    def advance(self, done: int, note: str = "") -> None:
        stop_if_asked()
        if self._task is not None:
            self._progress.update(self._task, completed=done, note=note)

    def reporter(self, description: str) -> Callable[[int, int], None]:
        """A ``(done, total)`` callback whose first report opens the stage ``description``."""
        def report(done: int, total: int) -> None:
            if self._description != description:
                self.stage(description, total)
            self.advance(done)
        return report


def display_path(path: str) -> str:
    """Relative to the working directory when inside it; absolute otherwise."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def locate(hit: Hit) -> str:
    where = display_path(hit.path)
    if hit.doc_key:
        where += f"#{hit.doc_key}"
    chunk = hit.chunk
    if chunk.page is not None:
        return f"{where} p.{chunk.page}"
    if chunk.lines is not None:
        return f"{where}:{chunk.lines[0]}-{chunk.lines[1]}"
    return where


def print_hits(hits: Sequence[Hit]) -> None:
    if not hits:
        stdout.print("no hits")
        return
    width = min(stdout.width, 120)
    for rank, hit in enumerate(hits, start=1):
        parts = [f"{name} {hit.scores[name]:.3f} #{hit.ranks[name]}" for name in hit.scores]
        stdout.print(f"[bold]{rank:>2}. {shown(locate(hit))}[/bold]  "
                     f"[cyan]{hit.score:.3f}[/cyan] [dim]({', '.join(parts)})[/dim]")
        trail = (hit.title, *hit.chunk.section, hit.chunk.symbol)
        context = " > ".join(dict.fromkeys(part for part in trail if part))
        if context:
            stdout.print(f"    [dim]§ {shown(context)}[/dim]")
        snippet = " ".join(hit.chunk.text.split())
        limit = max(width * 2 - 8, 80)
        stdout.print("    " + shown(snippet[:limit] + ("…" if len(snippet) > limit else "")))


def stream_answer(events: Iterable[str | Step | Answer], show: bool) -> Answer:
    """Print answer text as it arrives (when ``show``), each step on stderr as it is taken;
    return the final ``Answer``."""
    answer = None
    for event in events:
        if isinstance(event, Answer):
            answer = event
        elif isinstance(event, Step):
            print_step(event)
        elif show:
            sys.stdout.write(inert(event))
            sys.stdout.flush()
    if show:
        sys.stdout.write("\n")
    assert answer is not None  # every answer stream ends with its Answer
    return answer


def print_step(step: Step) -> None:
    """One strategy step on stderr: its kind, its text, and what a retrieval found."""
    cost = f" ({step.calls} call, {step.tokens} tokens)" if step.calls else ""
    stderr.print(f"[cyan]{step.kind}[/cyan] " + shown(step.text) + f"[dim]{cost}[/dim]")
    for hit in step.hits[:5]:
        stderr.print("  [dim]" + shown(locate(hit)) + "[/dim]")


def print_sources(answer: Answer) -> None:
    """The numbered sources after a streamed answer, cited ones marked, and the checks."""
    if not answer.found:
        return
    cited = {c.number for c in answer.citations if not c.inferred}
    inferred = {c.number for c in answer.citations if c.inferred} - cited
    stdout.print()
    for source in answer.sources:
        mark = ("[green]*[/green]" if source.number in cited
                else "[yellow]~[/yellow]" if source.number in inferred else " ")
        stdout.print(f"{mark}[bold][{source.number}][/bold] {shown(display_path(source.label))}"
                     + (f"  [dim]{shown(source.passage.hit.title)}[/dim]"
                        if source.passage.hit.title else ""))
    notes = []
    if answer.invalid_citations:
        notes.append("cited sources that do not exist: "
                     + ", ".join(f"[{n}]" for n in answer.invalid_citations) + " (removed)")
    if inferred:
        notes.append("~ cited by lore: the answer did not cite it, but it supports a sentence")
    moved = [c for c in answer.citations if c.written is not None]
    if moved:
        notes.append("moved: " + ", ".join(f"[{c.written}] to [{c.number}]" for c in moved)
                     + " (the source cited does not hold the sentence; this one does)")
    if answer.uncited:
        notes.append(f"{len(answer.uncited)} sentence(s) cite no source")
    timings = answer.timings
    notes.append(f"first token {timings.first_token:.1f}s, total {timings.total:.1f}s, "
                 f"{answer.model}")
    stderr.print("[dim]" + shown("; ".join(notes)) + "[/dim]")


def print_report(report: IndexReport) -> None:
    stdout.print(
        f"indexed {report.files_seen} files in {report.seconds:.1f}s: "
        f"{report.documents_added} documents added, {report.documents_updated} updated, "
        f"{report.documents_removed} removed, {report.files_unchanged} files unchanged; "
        f"{report.chunks_added} chunks added, {report.chunks_removed} removed, "
        f"{report.chunks_embedded} embedded")
    if report.skipped:
        stderr.print(f"[yellow]skipped {len(report.skipped)}:[/yellow]")
        for item in report.skipped:
            stderr.print(f"  {shown(display_path(item.path))}: {shown(item.reason)}")
    for warning in report.warnings:
        stderr.print(f"[yellow]warning: {shown(warning)}[/yellow]")
    if report.files_seen == 0:
        stderr.print("[yellow]no files to index: .gitignore files, hidden names or --include "
                     "/ --exclude left none; --no-gitignore and --hidden widen the walk[/yellow]")


def print_status(state: Status) -> None:
    rows = [
        ("knowledge base", state.path), ("documents", f"{state.documents:,}"),
        ("chunks", f"{state.chunks:,}"), ("vectors", f"{state.vectors:,}"),
        ("embedder", f"{state.embedder} ({state.dimension} dims)"
                     + (f"; {state.embedder_reason}" if state.embedder_reason else "")),
        ("vector index", state.ann), ("store", state.store),
        ("store size", _size(state.store_bytes)),
        ("index size", _size(state.index_bytes)), ("last update", state.last_update),
        ("schema", str(state.schema_version)),
    ]
    rows.append(("retrieval", state.tuning))
    rows.append(("concept graph", _graph_row(state)))
    if state.knowledge is not None:
        known = state.knowledge
        rows.append(("knowledge graph",
                     f"{known['chunks_read']:,} chunks read by {known['extractor']}: "
                     f"{known['model_calls']:,} model calls, {known['prompt_tokens']:,} prompt "
                     f"tokens, {known['written_tokens']:,} written, "
                     f"{known['model_seconds']:,} s"))
    if state.trained:
        rows.append(("trained models", ", ".join(state.trained)))
    for name, value in rows:
        stdout.print(f"{name:>15}  {shown(value)}")


def _graph_row(state: Status) -> str:
    if state.concept_bytes is None:
        return "not built"
    graph = state.graph
    if graph is None:
        return f"concept index, {_size(state.concept_bytes)}"
    capped = (f" ({graph['links_dropped']:,} weaker dropped at the cap)"
              if graph.get("links_dropped") else "")
    return (f"{graph['nodes']:,} concepts, {graph['edges']:,} links{capped}, "
            f"{graph['top_communities']:,} communities ({graph['communities']:,} at all "
            f"{graph['levels']} levels), built in {graph['seconds']:.2f} s; "
            f"{_size(state.concept_bytes)}")


def stderr_status(text: str) -> RichStatus:
    """A spinner on stderr for work without a count (``with stderr_status(...) as s``)."""
    return stderr.status(text)


_STATUS_STYLE = {"ok": "green", "warning": "yellow", "error": "bold red"}


def print_check(check: Check) -> None:
    """One finding of ``lore doctor``: its status, what was found and, if need be, the fix."""
    style = _STATUS_STYLE[check.status]
    stdout.print(f"[{style}]{check.status:>7}[/]  {shown(check.name)}: {shown(check.detail)}")
    if check.fix:
        stdout.print(f"{'fix':>7}  {shown(check.fix)}")


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"



class QueryProgress:
    """A bar over a benchmark's queries."""

    def __init__(self, total: int, description: str, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=stderr, disable=not enabled, transient=True)
        self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> QueryProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._progress.stop()

    def advance(self, *_: object) -> None:
        self._progress.advance(self._task)


def print_qa_report(report: dict[str, object]) -> None:
    metrics = report["metrics"]
    assert isinstance(metrics, dict)
    table = Table(box=None, pad_edge=False)
    for column in ("set", "mode", "model", *metrics):
        table.add_column(column, justify="left" if column in ("set", "mode", "model")
                         else "right")
    rows = {str(report["dataset"]): metrics}
    breakdown = report.get("by_strategy")
    if isinstance(breakdown, dict) and len(breakdown) > 1:  # auto took several routes
        rows.update({f"  {name}": each for name, each in breakdown.items()})
    for name, row in rows.items():
        values = [("-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v))
                  for v in row.values()]
        table.add_row(name, str(report["mode"]), str(report["model"]), *values)
    stdout.print(table)


def print_eval_reports(reports: Sequence[RetrievalReport]) -> None:
    table = Table(box=None, pad_edge=False)
    names = list(reports[0].metrics) if reports else []
    for column in ("set", "mode", "queries", *names, "median ms", "p90 ms"):
        table.add_column(column, justify="left" if column in ("set", "mode") else "right")
    for r in reports:
        table.add_row(r.dataset, r.mode, str(r.queries), *(f"{r.metrics[n]:.4f}" for n in names),
                      f"{r.latency_ms['median']:.2f}", f"{r.latency_ms['p90']:.2f}")
    stdout.print(table)
    if reports:
        stdout.print(f"[dim]embedder {reports[0].embedder}; split {reports[0].split}[/dim]")
