"""Sentence and paragraph spans of English and Chinese text: pure functions, no model.

The chunker splits on them, the answer step widens a hit to whole sentences, and the prompt
trims sources by sentence.
"""

from __future__ import annotations

import re

from lore.text.script import CJK_CLASS

_PARAGRAPH = re.compile(r"[^\S\n]*+\S[^\n]*(?:\n[^\S\n]*+\S[^\n]*)*")
_CLOSERS = re.escape("\"'”’)]}»」』）》】〕")
_SENTENCE_END = re.compile(
    r"(?=[.!?。｡．！？；\n])(?:"  # cheap first-character test before the alternatives
    rf"[.!?]+[{_CLOSERS}]*(?=\s)"
    rf"|[。｡．！？；]+[{_CLOSERS}]*"
    rf"|[!?]+(?=[{CJK_CLASS}])"
    r"|\n[^\S\n]*\n\s*)"
)
_ABBREVIATIONS = frozenset({
    "al", "approx", "ca", "cf", "co", "corp", "dept", "dr", "ed", "eds", "eg", "est", "gen", "ie",
    "inc", "jr", "ltd", "mr", "mrs", "ms", "mt", "prof", "resp", "rev", "sr", "st", "vs",
})
"""Words whose period never ends a sentence (titles, Latin, ``et al.``)."""
_NUMBERED = frozenset({
    "ch", "eq", "eqs", "fig", "figs", "no", "nos", "p", "pp", "ref", "refs", "sec", "sect", "tab",
    "vol", "vols",
})
"""Words whose period does not end a sentence when a number follows (``Fig. 2``, ``p. 7``)."""


def paragraph_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the runs of non-blank lines in ``text[start:end]``, trimmed of surrounding space."""
    spans: list[tuple[int, int]] = []
    for match in _PARAGRAPH.finditer(text, start, len(text) if end is None else end):
        _append_trimmed(text, match.start(), match.end(), spans)
    return spans


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of English or Chinese text, trimmed of surrounding whitespace.

    English sentences end at ``.``, ``!`` or ``?`` (and closing quotes) before whitespace,
    except after common abbreviations (``e.g.``, ``Fig. 2``, ``et al.``), initials, or when the
    next word starts in lower case. Chinese sentences end at ``。！？；`` and their variants. A
    blank line always ends a sentence. Every non-space character lies in exactly one span.

    Example:
        >>> text = "See Fig. 2 for details. 这是第一句。这是第二句！"
        >>> [text[a:b] for a, b in split_sentences(text)]
        ['See Fig. 2 for details.', '这是第一句。', '这是第二句！']
    """
    spans: list[tuple[int, int]] = []
    cursor = 0
    for match in _SENTENCE_END.finditer(text):
        if match.group()[0] == "." and not _ends_sentence(text, match.start(), match.end()):
            continue
        _append_trimmed(text, cursor, match.end(), spans)
        cursor = match.end()
    _append_trimmed(text, cursor, len(text), spans)
    return spans


def _ends_sentence(text: str, dot: int, after: int) -> bool:
    """Whether the period at ``dot`` ends a sentence, judged from the word before and after."""
    before = text[max(dot - 24, 0):dot]
    word = before.split()[-1] if before and not before[-1].isspace() else ""
    word = word.lstrip("([\"'“‘")
    if word.lower() in _ABBREVIATIONS or "." in word or (len(word) == 1 and word.isupper()):
        return False
    rest = text[after:after + 40].lstrip()
    if rest[:1].isdigit() and word.lower() in _NUMBERED:
        return False
    return not rest or not rest[0].islower()


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))
