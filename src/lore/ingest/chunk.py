"""Blocks to chunks: pack prose to a token budget, keep code symbols whole or split on statements.

Prose blocks of one section (and one PDF page) are packed into chunks whose *view* (title and
heading trail, then the text) fits the budget. A block over the budget is split on sentences,
a sentence over it on lines, then words, then characters. Consecutive chunks of a section share
up to ``overlap_tokens`` of whole trailing sentences. A code block is one chunk; when its view
is over the budget it is split between top-level statements, never inside a line. This module
plans the units and builds the chunks; cutting and packing the counted units is
:mod:`lore.ingest.packing`.

Token counts are additive over whitespace-separated pieces for WordPiece tokenizers (the ones
lore ships), so the chunker counts each sentence once, in one batched call, and sums. Whatever
a counter adds to every text (special tokens, if it counts them) is measured on the empty
string and charged once per view.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lore.config import CodeView, IngestConfig
from lore.errors import ConfigError
from lore.ingest.packing import CountTokens, Unit, cost, fit, windows
from lore.ingest.view import code_view, prose_view
from lore.text.sentences import split_sentences
from lore.types import Block, Chunk, Document

_LINE = re.compile(r"[^\n]+")


@dataclass(frozen=True, slots=True)
class _Group:
    """Consecutive prose blocks of one section and page, packed together."""

    blocks: tuple[Block, ...]
    prefix: str
    """The view's context line (title and heading trail), empty when there is none."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """One document's prose groups, their sentences and its code blocks, before counting."""

    doc: Document
    groups: list[_Group]
    units: list[list[Unit]]
    code: list[Block]
    code_style: CodeView

    def texts(self) -> Iterator[str]:
        """What to count, in the order ``_chunk_plan`` reads the counts back."""
        doc = self.doc
        yield from (group.prefix for group in self.groups)
        for block in self.code:
            yield self.code_view(block, "")
            yield self.code_view(block, doc.text[block.start:block.end])
        yield from (doc.text[u.start:u.end] for units in self.units for u in units)

    def code_view(self, block: Block, code: str) -> str:
        # A record of a corpus file is named by its key, not by the corpus file's path.
        path = "" if self.doc.key else self.doc.path
        return code_view(code, block.symbol, path, self.doc.language, self.code_style)


CHUNKER_VERSION = 4
"""Bumped whenever chunks or views come out differently for the same input (2: prose views
keep a title the text repeats; corpus records holding code get code views; 3: a chunk whose
view changed is replaced, where 2 kept the old one when its text was the same; 4: a code
statement over the budget alone is cut into lines, words or characters). A knowledge base
chunked by another version, or with other chunk settings, is chunked again on its next index;
views that did not change keep their vectors."""


def chunking_signature(config: IngestConfig) -> str:
    """What must match for stored chunks to be what chunking the same files would give now."""
    return (f"v{CHUNKER_VERSION} tokens={config.chunk_tokens} overlap={config.overlap_tokens} "
            f"code_view={config.code_view}")


def chunk_document(doc: Document, count_tokens: CountTokens, max_tokens: int,
                   overlap_tokens: int) -> list[Chunk]:
    """Split a parsed document into chunks whose views fit ``max_tokens``.

    Args:
        doc: a parsed document; its blocks' spans index ``doc.text``.
        count_tokens: the embedder's token counter, called on batches.
        max_tokens: budget of each chunk's view, as ``count_tokens`` counts it.
        overlap_tokens: tokens of whole trailing sentences repeated between consecutive prose
            chunks of one section (capped at half the budget).

    Raises:
        ConfigError: ``max_tokens`` is not positive or ``overlap_tokens`` is negative.

    Example:
        >>> words = lambda texts: [len(t.split()) for t in texts]
        >>> doc = Document(path="/a.txt", text="One two. Three four.", blocks=(
        ...     Block("One two. Three four.", 0, 20),))
        >>> [c.text for c in chunk_document(doc, words, max_tokens=2, overlap_tokens=0)]
        ['One two.', 'Three four.']
    """
    return chunk_documents([doc], count_tokens, max_tokens, overlap_tokens)[0]


def chunk_documents(docs: Sequence[Document], count_tokens: CountTokens, max_tokens: int,
                    overlap_tokens: int, code_style: CodeView = "both"
                    ) -> list[list[Chunk]]:
    """``chunk_document`` for many documents, counting all their sentences in one call.

    The tokenizer's cost per call is high next to its cost per sentence, so the records of a
    JSONL corpus are best chunked together. Returns one list of chunks per document.
    """
    _check(max_tokens, overlap_tokens)
    plans = [_plan(doc, code_style) for doc in docs]
    texts = ["", *(text for plan in plans for text in plan.texts())]
    counts = count_tokens(texts) if len(texts) > 1 else [0]
    rest = iter(counts[1:])
    return [_chunk_plan(plan, rest, counts[0], count_tokens, max_tokens, overlap_tokens)
            for plan in plans]


def _chunk_plan(plan: _Plan, counts: Iterator[int], overhead: int, count_tokens: CountTokens,
                max_tokens: int, overlap_tokens: int) -> list[Chunk]:
    doc = plan.doc
    prefixes = [cost(next(counts), overhead) for _ in plan.groups]
    code_counts = [(cost(next(counts), overhead), next(counts)) for _ in plan.code]
    units = [[_with_tokens(u, cost(next(counts), overhead)) for u in us] for us in plan.units]
    lines = _LineIndex(doc.text)
    chunks: list[Chunk] = []
    for group, group_units, prefix in zip(plan.groups, units, prefixes, strict=True):
        budget = _text_budget(max_tokens, overhead, prefix)
        fitted = fit(doc.text, group_units, budget, count_tokens, overhead)
        overlap = min(overlap_tokens, budget // 2)
        chunks.extend(_prose_chunks(doc, group, fitted, windows(fitted, budget, overlap), lines))
    segments = [_segments(doc.text, block) if view_count > max_tokens else []
                for block, (_, view_count) in zip(plan.code, code_counts, strict=True)]
    texts = [doc.text[a:b] for spans in segments for a, b in spans]
    segment_counts = iter(count_tokens(texts) if texts else [])
    for block, (description, _), spans in zip(plan.code, code_counts, segments, strict=True):
        budget = _text_budget(max_tokens, overhead, description)
        pieces = [Unit(a, b, 0, cost(next(segment_counts), overhead)) for a, b in spans]
        # A statement over the budget alone (a minified line) is cut as prose is: lines,
        # words, then characters, so no chunk outgrows the budget whatever the parser found.
        pieces = fit(doc.text, pieces, budget, count_tokens, overhead)
        chunks.extend(_code_chunks(plan, block, pieces, budget, lines))
    return sorted(chunks, key=lambda chunk: (chunk.start, chunk.end))


def _check(max_tokens: int, overlap_tokens: int) -> None:
    if max_tokens < 1:
        raise ConfigError(f"chunk budget {max_tokens} must be a positive number of tokens "
                          "(setting ingest.chunk_tokens)")
    if overlap_tokens < 0:
        raise ConfigError(f"chunk overlap {overlap_tokens} must be zero or more tokens "
                          "(setting ingest.overlap_tokens)")


def _text_budget(max_tokens: int, overhead: int, prefix: int) -> int:
    """Tokens left for text once the special tokens and the context are paid for.

    A context longer than three quarters of the budget (a very long title) is not allowed to
    squeeze the text below a quarter of it; such views run over and the embedder truncates.
    """
    return max(max_tokens - overhead - prefix, max_tokens // 4, 1)


def _with_tokens(unit: Unit, tokens: int) -> Unit:
    return Unit(unit.start, unit.end, unit.block, tokens)


# -- planning --------------------------------------------------------------------------------


def _plan(doc: Document, code_style: CodeView) -> _Plan:
    """Prose blocks grouped by (section, page) runs, and the code blocks; empty ones dropped."""
    runs: list[list[Block]] = []
    code: list[Block] = []
    for block in doc.blocks:
        if not doc.text[block.start:block.end].strip():
            continue
        if block.kind == "code":
            code.append(block)
        elif runs and _same_group(runs[-1][-1], block):
            runs[-1].append(block)
        else:
            runs.append([block])
    groups = [_Group(tuple(run), _prefix(doc.title, run[0].section)) for run in runs]
    return _Plan(doc, groups, [_sentence_units(doc.text, g) for g in groups], code, code_style)


def _same_group(previous: Block, block: Block) -> bool:
    return previous.section == block.section and previous.page == block.page


def _prefix(title: str, section: tuple[str, ...]) -> str:
    return prose_view("", title, section).rstrip("\n")


def _sentence_units(text: str, group: _Group) -> list[Unit]:
    units = []
    for index, block in enumerate(group.blocks):
        offset = block.start
        for start, end in split_sentences(text[block.start:block.end]):
            units.append(Unit(offset + start, offset + end, index))
    return units


# -- building chunks -------------------------------------------------------------------------


class _LineIndex:
    """1-based line numbers of character offsets, by bisecting precomputed line starts."""

    def __init__(self, text: str) -> None:
        self._starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def span(self, start: int, end: int) -> tuple[int, int]:
        return bisect_right(self._starts, start), bisect_right(self._starts, max(start, end - 1))


def _prose_chunks(doc: Document, group: _Group, units: list[Unit],
                  unit_windows: list[tuple[int, int]], lines: _LineIndex) -> Iterator[Chunk]:
    first, last = group.blocks[0], group.blocks[-1]
    group_span = (first.start, last.end)
    for lead, end in unit_windows:
        start, stop = units[lead].start, units[end - 1].end
        block = group.blocks[units[lead].block]
        text = doc.text[start:stop]
        yield Chunk(
            doc_id=doc.id, text=text, start=start, end=stop,
            view=prose_view(text, doc.title, block.section), kind="prose",
            section=block.section, parent=block.parent or group_span,
            lines=lines.span(start, stop), page=block.page,
        )


def _code_chunks(plan: _Plan, block: Block, segments: list[Unit], budget: int,
                 lines: _LineIndex) -> Iterator[Chunk]:
    """One chunk for the block, or, when it was cut into counted segments (its view is over
    budget), one per run of consecutive segments that fits."""
    spans = [(block.start, block.end)]
    if segments:
        runs = windows(segments, budget, 0)
        spans = [(segments[a].start, segments[b - 1].end) for a, b in runs]
    parent = block.parent or ((block.start, block.end) if len(spans) > 1 else None)
    doc = plan.doc
    for start, end in spans:
        text = doc.text[start:end]
        yield Chunk(
            doc_id=doc.id, text=text, start=start, end=end,
            view=plan.code_view(block, text), kind="code",
            section=block.section, parent=parent, lines=lines.span(start, end),
            symbol=block.symbol.name if block.symbol else "",
        )


def _segments(text: str, block: Block) -> list[tuple[int, int]]:
    """Pieces of a code block that may be chunked apart: its top-level statements (or its
    lines when it has none), the first from the block start (the signature), the last to the
    block end (a closing brace), each gap going with the statement after it."""
    inside = sorted(s for s in block.statements if block.start <= s[0] < s[1] <= block.end)
    ends = [end for _, end in _disjoint(inside)]
    if not ends:
        ends = [block.start + m.end() for m in _LINE.finditer(text[block.start:block.end])]
    ends = [*ends[:-1], block.end] if ends else [block.end]
    segments, start = [], block.start
    for end in ends:
        while start < end and text[start].isspace():
            start += 1
        if start < end:
            segments.append((start, end))
        start = end
    return segments


def _disjoint(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    kept: list[tuple[int, int]] = []
    for span in spans:
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept
