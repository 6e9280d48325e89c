"""Checking an answer's ``[n]`` citations against the sources its prompt numbered.

Models write citations in several shapes: ``[1]``, ``[1, 3]``, ``[1][2]``, ``[2-4]``, and in
Chinese text full-width ``【1】`` or ``［1］``. ``check_citations`` removes numbers that point at
no source (reporting them), maps the rest to their sentences, and finds the sentences that cite
nothing, so a reader can see which claims stand on a source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from lore.text.analyze import analyze
from lore.types import Citation

_NUMBERS = r"\d+(?:\s*(?:[,，、;；]|-|–)\s*\d+)*"
MARKER = re.compile(rf"[\[【［]\s*({_NUMBERS})\s*[\]】］]")
_SEPARATOR = re.compile(r"\s*[,，、;；]\s*")
_RANGE = re.compile(r"(\d+)\s*[-–]\s*(\d+)")
_MAX_RANGE = 50
"""A range ending past this is not expanded (``[1990-2020]`` is a span of years)."""
_ORPHAN_SPACE = re.compile(r" +([.,;:!?])")
"""A space left before punctuation where an invalid marker was removed."""
_SENTENCE_END = re.compile(r"[.!?。！？]+[\"'”’)）]*")
_MIN_SENTENCE_CHARS = 8
"""Shorter fragments beside other sentences (a heading, "Yes.") are not claims that need a
source; an answer that is one short fragment (``1997``, ``二十年``) is the claim itself."""
INFER_SUPPORT = 0.6
"""An uncited sentence gets an inferred citation to the source holding the largest share of its
terms, when that share is at least this (on a tie, the higher-ranked source)."""
MOVE_BELOW = 0.5
"""A written citation whose source holds less than this share of its sentence's terms moves to
the source holding the largest share, when that share is at least ``INFER_SUPPORT`` and the
sentence does not cite that source already: the model wrote the wrong number."""


@dataclass(frozen=True, slots=True)
class CheckedAnswer:
    text: str
    """The answer with numbers that point nowhere removed from its markers."""
    citations: tuple[Citation, ...]
    invalid: tuple[int, ...]
    """Cited numbers with no source, in order of first appearance."""
    uncited: tuple[tuple[int, int], ...]
    """Spans of sentences that cite nothing."""


def check_citations(text: str, source_count: int) -> CheckedAnswer:
    """Verify the ``[n]`` markers of ``text`` against sources numbered 1..``source_count``."""
    invalid: dict[int, None] = {}

    def keep_valid(match: re.Match[str]) -> str:
        numbers = parse_numbers(match.group(1))
        valid = [n for n in numbers if 1 <= n <= source_count]
        invalid.update((n, None) for n in numbers if not 1 <= n <= source_count)
        return "".join(f"[{n}]" for n in valid)

    cleaned = _ORPHAN_SPACE.sub(r"\1", MARKER.sub(keep_valid, text))
    citations = []
    uncited = []
    spans = sentence_spans(cleaned)
    for start, end in spans:
        markers = [m for m in MARKER.finditer(cleaned, start, end)]
        for marker in markers:
            for number in parse_numbers(marker.group(1)):
                citations.append(Citation(number, marker.start(), marker.end(), (start, end)))
        claim = MARKER.sub("", cleaned[start:end]).strip()
        if not markers and claim and (len(claim) >= _MIN_SENTENCE_CHARS or len(spans) == 1):
            uncited.append((start, end))
    return CheckedAnswer(cleaned, tuple(citations), tuple(invalid), tuple(uncited))


def parse_numbers(inside: str) -> list[int]:
    """``"1, 3-5"`` → ``[1, 3, 4, 5]``; a range too wide to be a citation gives its ends."""
    numbers: list[int] = []
    for part in _SEPARATOR.split(inside.strip()):
        span = _RANGE.fullmatch(part)
        if span:
            low, high = int(span.group(1)), int(span.group(2))
            wide = high < low or high > _MAX_RANGE
            numbers.extend([low, high] if wide else range(low, high + 1))
        elif part.isdigit():
            numbers.append(int(part))
    return list(dict.fromkeys(numbers))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of English or Chinese text; citation markers right after a sentence's end
    (``Paris is the capital. [1]``) belong to that sentence."""
    spans: list[tuple[int, int]] = []
    start = 0
    for end_mark in _SENTENCE_END.finditer(text):
        end = end_mark.end()
        if end_mark.group().startswith(".") and not _ends_sentence(text, end):
            continue  # "3.5", "e.g.x": a full stop inside a token
        while True:  # take the markers that follow the full stop
            follow = MARKER.match(text, _skip_spaces(text, end))
            if not follow:
                break
            end = follow.end()
        if text[start:end].strip():
            spans.append(_trimmed(text, start, end))
        start = end
    if text[start:].strip():
        spans.append(_trimmed(text, start, len(text)))
    return spans


def _ends_sentence(text: str, end: int) -> bool:
    return end >= len(text) or text[end].isspace() or text[end] in "[【［"


def _skip_spaces(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t":
        position += 1
    return position


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def attribute(checked: CheckedAnswer, sources: Sequence[str]) -> CheckedAnswer:
    """Measure each citation's support, move a written citation to another source when its
    own does not say what its sentence says (``MOVE_BELOW``), and cite the best-supporting
    source for sentences that cite nothing when it holds ``INFER_SUPPORT`` of their terms.

    ``sources[n - 1]`` is the text of source ``n``. Small models often answer well but forget
    to cite, or cite the neighbouring number; an inferred citation is marked as such and never
    inserted into the text, and a moved one keeps the number the model wrote.
    """
    source_terms = [set(analyze(text)) for text in sources]
    cited: list[Citation] = []
    for citation in checked.citations:
        sentence_cites = {c.number for c in (*checked.citations, *cited)
                          if c.sentence == citation.sentence}
        cited.append(_verified(checked.text, citation, source_terms, sentence_cites))
    still_uncited = []
    for start, end in checked.uncited:
        scores = _supports(checked.text[start:end], source_terms)
        best = _best(scores)
        if best is not None and scores[best] >= INFER_SUPPORT:
            cited.append(Citation(best + 1, end, end, (start, end), scores[best], inferred=True))
        else:
            still_uncited.append((start, end))
    cited.sort(key=lambda c: (c.sentence[0], c.start))
    return replace(checked, citations=tuple(cited), uncited=tuple(still_uncited))


def _verified(text: str, citation: Citation, source_terms: Sequence[set[str]],
              sentence_cites: set[int]) -> Citation:
    """``citation`` with its support, moved when its source does not hold its sentence and
    another one, not yet cited by the sentence (``sentence_cites``), does."""
    scores = _supports(_sentence(text, citation), source_terms)
    own = scores[citation.number - 1]
    best = _best(scores)
    if (own < MOVE_BELOW and best is not None and scores[best] >= INFER_SUPPORT
            and best + 1 not in sentence_cites):
        return replace(citation, number=best + 1, support=scores[best],
                       written=citation.number)
    return replace(citation, support=own)


def _supports(sentence: str, source_terms: Sequence[set[str]]) -> list[float]:
    terms = analyze(sentence)
    return [support_of_terms(terms, known) for known in source_terms]


def _best(scores: Sequence[float]) -> int | None:
    """Index of the highest score, the first on a tie; None when there are none."""
    return max(range(len(scores)), key=scores.__getitem__, default=None)


def support_of_terms(terms: Sequence[str], source_terms: set[str]) -> float:
    """Share of ``terms`` (stemmed words; Chinese words) found in a source's terms."""
    if not terms:
        return 0.0
    return sum(1 for term in terms if term in source_terms) / len(terms)


def _sentence(text: str, citation: Citation) -> str:
    return MARKER.sub("", text[citation.sentence[0]:citation.sentence[1]])
