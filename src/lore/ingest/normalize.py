"""Bytes to clean text, and the cheap text analysis every parser shares.

``decode_text`` turns a file's bytes into normalised text (UTF-8 with or without a byte-order
mark, UTF-16 with one), refusing binary files and other encodings with a message that says how
to convert them. ``detect_language``, ``split_sentences`` and ``paragraph_spans`` are pure
functions over that text; no model is involved.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import Path

from lore.errors import IngestError

SNIFF_BYTES = 8192
"""NUL bytes within this many leading bytes mark a file as binary (what git does)."""

_NEWLINES = re.compile(r"\r\n?")
_TRAILING_SPACE = re.compile(r"[^\S\n]+$", re.MULTILINE)
_PARAGRAPH = re.compile(r"[^\S\n]*+\S[^\n]*(?:\n[^\S\n]*+\S[^\n]*)*")
_CJK_CLASS = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_CJK = re.compile(f"[{_CJK_CLASS}]")
_LATIN = re.compile(r"[^\W\d_]", re.ASCII)
_LANGUAGE_SAMPLE = 2000
_CJK_SHARE = 0.3
"""Text is Chinese when at least this share of its letters are CJK ideographs. A Chinese
character carries about as much as an English word of five letters, so 0.3 already means the
text is mostly Chinese with English terms in it."""

_CLOSERS = re.escape("\"'”’)]}»」』）》】〕")
_SENTENCE_END = re.compile(
    r"(?=[.!?。｡．！？；\n])(?:"  # cheap first-character test before the alternatives
    rf"[.!?]+[{_CLOSERS}]*(?=\s)"
    rf"|[。｡．！？；]+[{_CLOSERS}]*"
    rf"|[!?]+(?=[{_CJK_CLASS}])"
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


def decode_bytes(path: Path, data: bytes) -> str:
    """Decode a text file's bytes, without normalising.

    Raises:
        IngestError: the file is binary, or not UTF-8/UTF-16 (the message says how to convert).
    """
    if data.startswith(codecs.BOM_UTF8):
        return _decode(path, data[len(codecs.BOM_UTF8):], "utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(path, data, "utf-16")
    if b"\x00" in data[:SNIFF_BYTES]:
        encoding = _utf16_without_bom(data[:SNIFF_BYTES])
        if encoding is None:
            raise IngestError(str(path), "binary file (NUL bytes near the start); not indexed")
        return _decode(path, data, encoding)
    return _decode(path, data, "utf-8")


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` or ``-be`` when NUL bytes sit at every other offset, as in text mostly
    of ASCII or Latin letters written in UTF-16 without its byte-order mark; else ``None``
    (binary). Text mostly of CJK characters has few NULs and reads as binary here."""
    pairs = len(head) // 2
    if pairs < 8:
        return None
    for encoding, zero_at in (("utf-16-le", 1), ("utf-16-be", 0)):
        zeros = head[zero_at::2][:pairs].count(0)
        if zeros >= 0.9 * pairs and head[1 - zero_at::2][:pairs].count(0) == 0:
            return encoding
    return None


def _decode(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise IngestError(
            str(path),
            f"not valid {encoding.upper()} (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert it to UTF-8 first, for example `iconv -f latin1 -t utf-8 in.txt > out.txt`",
        ) from None


def normalize_text(text: str) -> str:
    """LF line endings, Unicode NFC, no trailing spaces on lines or at the end.

    Leading blank lines and indentation are kept, so line numbers still match the source.
    """
    text = _NEWLINES.sub("\n", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return _TRAILING_SPACE.sub("", text).rstrip()


def decode_text(path: Path, data: bytes) -> str:
    """``decode_bytes`` then ``normalize_text``: what every text-based parser starts from."""
    return normalize_text(decode_bytes(path, data))


def detect_language(text: str) -> str:
    """``"zh"`` when CJK ideographs dominate the letters of a sample of the text, else ``"en"``.

    Example:
        >>> detect_language("检索增强生成 (RAG) 把检索和生成结合起来")
        'zh'
    """
    sample = _sample(text)
    cjk = len(_CJK.findall(sample))
    if cjk == 0:
        return "en"
    latin = len(_LATIN.findall(sample))
    return "zh" if cjk / (cjk + latin) >= _CJK_SHARE else "en"


def _sample(text: str) -> str:
    """Start, middle and end of a long text: enough to judge, cheap on megabyte files."""
    if len(text) <= 3 * _LANGUAGE_SAMPLE:
        return text
    size = _LANGUAGE_SAMPLE
    middle = len(text) // 2 - size // 2
    return text[:size] + text[middle:middle + size] + text[-size:]


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
