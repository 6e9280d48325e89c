"""Packing counted units into windows that fit a token budget: the pure core of chunking.

A unit is a sentence, or a finer piece of a long one, with its token count. :func:`fit`
replaces each unit over the budget with its lines, then words, then character windows;
:func:`windows` groups consecutive units into balanced windows that take whole blocks where
they can and repeat up to ``overlap`` tokens of the window before. Both work on spans and
counts only, apart from the documents, blocks and views that :mod:`lore.ingest.chunk` builds
around them, so a test can drive them with any token counter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

CountTokens = Callable[[Sequence[str]], list[int]]
"""Token counts of a batch of texts, in order (``Embedder.count_tokens``)."""

_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Unit:
    """The smallest piece packing moves: a sentence (or a finer piece of a long one)."""

    start: int
    end: int
    block: int
    """Index of the block in its group; the units of one block are consecutive."""
    tokens: int = 0


def cost(count: int, overhead: int) -> int:
    """Tokens a piece adds to a view: its count less the special tokens of a call."""
    return max(count - overhead, 0)


# -- making long units fit -------------------------------------------------------------------


def fit(text: str, units: list[Unit], budget: int, count_tokens: CountTokens,
        overhead: int) -> list[Unit]:
    """Replace each unit over the budget with finer ones: lines, words, then characters."""
    for splitter in (_lines_of, _words_of):
        if not any(u.tokens > budget for u in units):
            return units
        units = _refine(text, units, budget, count_tokens, overhead, splitter)
    while any(u.tokens > budget and u.end - u.start > 1 for u in units):
        units = _refine(text, units, budget, count_tokens, overhead, _characters_of)
    return units


Splitter = Callable[[str, Unit, int], list[tuple[int, int]]]


def _refine(text: str, units: list[Unit], budget: int, count_tokens: CountTokens,
            overhead: int, splitter: Splitter) -> list[Unit]:
    pieces = {i: splitter(text, u, budget) for i, u in enumerate(units) if u.tokens > budget}
    spans = [span for parts in pieces.values() for span in parts]
    counts = iter(count_tokens([text[a:b] for a, b in spans]))
    refined: list[Unit] = []
    for index, unit in enumerate(units):
        if index not in pieces:
            refined.append(unit)
            continue
        refined.extend(Unit(a, b, unit.block, cost(next(counts), overhead))
                       for a, b in pieces[index])
    return refined


def _lines_of(text: str, unit: Unit, budget: int) -> list[tuple[int, int]]:
    return [m.span() for m in _LINE.finditer(text, unit.start, unit.end) if m.group().strip()]


def _words_of(text: str, unit: Unit, budget: int) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text, unit.start, unit.end)]


def _characters_of(text: str, unit: Unit, budget: int) -> list[tuple[int, int]]:
    """Windows sized from the unit's characters per token; always shorter than the unit."""
    length = unit.end - unit.start
    size = max(1, min(length - 1, length * budget // max(unit.tokens, 1)))
    return [(a, min(a + size, unit.end)) for a in range(unit.start, unit.end, size)]


# -- packing ---------------------------------------------------------------------------------


def windows(units: list[Unit], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Unit index windows ``[lead, end)``: each fits the budget (a lone unit over it excepted),
    takes whole blocks where it can, and repeats up to ``overlap`` tokens of the last one.

    Windows are balanced: each stops once it holds its share of the new text, so 300 tokens
    under a 256 budget become two chunks of about 150, not 256 and a 44-token tail.
    """
    sums = [0, *accumulate(u.tokens for u in units)]
    ends = _block_ends(units)
    target = _share(sums[-1], budget, overlap)
    found: list[tuple[int, int]] = []
    start = 0
    while start < len(units):
        lead = _overlap_start(units, found[-1][0] if found else start, start, overlap, budget)
        room = budget - (sums[start] - sums[lead])
        end = _extend(units, sums, ends, start, room, target)
        found.append((lead, end))
        start = end
    return found


def _share(total: int, budget: int, overlap: int) -> int:
    """New tokens per window when ``total`` is cut into as few overlapping windows as fit."""
    if total <= budget:
        return total
    step = max(budget - overlap, 1)
    return -(-total // -(-(total - overlap) // step))


def _block_ends(units: list[Unit]) -> list[int]:
    """For each unit, the index just past the last unit of its block."""
    ends = [len(units)] * len(units)
    for index in range(len(units) - 2, -1, -1):
        same = units[index + 1].block == units[index].block
        ends[index] = ends[index + 1] if same else index + 1
    return ends


def _overlap_start(units: list[Unit], previous: int, start: int, overlap: int,
                   budget: int) -> int:
    """How far back into the previous window (never its first unit) the next one may reach."""
    lead, kept = start, 0
    while (lead - 1 > previous and kept + units[lead - 1].tokens <= overlap
           and kept + units[lead - 1].tokens + units[start].tokens <= budget):
        lead -= 1
        kept += units[lead].tokens
    return lead


def _extend(units: list[Unit], sums: list[int], ends: list[int], start: int, room: int,
            target: int) -> int:
    """End of a window from ``start``: always one unit, then sentence by sentence inside a
    block, and only whole blocks across a block boundary, until ``target`` new tokens are in
    or the next step would pass ``room``."""
    end = start + 1
    while end < len(units) and sums[end] - sums[start] < target:
        stop = ends[end] if units[end].block != units[end - 1].block else end + 1
        if sums[stop] - sums[start] > room:
            break
        end = stop
    return end
