"""Which parser reads which file: the registry, and ``parse_file`` that reads and dispatches.

Every parser has one signature, ``(path, data, mtime) -> list[Document]``. Formats whose
parsers can skip a bad part of a file and go on (a JSONL line, a PDF page) also register a
reader that returns the warnings beside the documents; ``parse_file`` prefers it.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lore.errors import IngestError, os_error_reason
from lore.ingest.code import parse_code
from lore.ingest.html import parse_html
from lore.ingest.jsonl import parse_json, parse_jsonl, read_json, read_jsonl, stream_jsonl
from lore.ingest.languages import LANGUAGE_BY_SUFFIX
from lore.ingest.markdown import parse_markdown
from lore.ingest.normalize import SNIFF_BYTES
from lore.ingest.pdf import parse_pdf, read_pdf
from lore.ingest.text import parse_text
from lore.types import Document

Parser = Callable[[Path, bytes, float], list[Document]]
"""``(absolute path, file bytes, mtime) -> documents``; raises ``IngestError`` on bad input."""
Reader = Callable[[Path, bytes, float], tuple[list[Document], list[str]]]
"""A parser that also returns warnings about the parts of the file it skipped."""


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The documents of one file, and what was skipped inside it.

    Example:
        >>> parsed = parse_file(Path("/abs/corpus.jsonl"), max_bytes=50_000_000)  # doctest: +SKIP
        >>> len(parsed.documents), parsed.warnings  # doctest: +SKIP
        (5183, [])
    """

    documents: list[Document]
    warnings: list[str]
    """One line per skipped part (``line 7: invalid JSON ...``); the rest was parsed."""


_PROSE_PARSERS: dict[str, Parser] = {
    "text": parse_text,
    "markdown": parse_markdown,
    "html": parse_html,
    "pdf": parse_pdf,
    "jsonl": parse_jsonl,
    "json": parse_json,
}
_PROSE_SUFFIXES: dict[str, str] = {
    **dict.fromkeys([".txt", ".text", ".rst", ".log", ".csv", ".tsv"], "text"),
    **dict.fromkeys([".md", ".markdown", ".mdown", ".mkd", ".mdx"], "markdown"),
    **dict.fromkeys([".html", ".htm", ".xhtml"], "html"),
    ".pdf": "pdf",
    **dict.fromkeys([".jsonl", ".ndjson"], "jsonl"),
    ".json": "json",
}

PARSERS: dict[str, Parser] = {
    **dict.fromkeys(LANGUAGE_BY_SUFFIX.values(), parse_code),
    **_PROSE_PARSERS,
}
"""Format name -> parser. Code languages come from ``lore.ingest.languages``; where a language name
equals a prose format (``markdown``, ``json``), the prose parser wins."""
CODE_FORMATS = frozenset(LANGUAGE_BY_SUFFIX.values()) - set(_PROSE_PARSERS)
"""Formats read as source code (a document's ``format`` is then its language)."""
SUFFIXES: dict[str, str] = {**LANGUAGE_BY_SUFFIX, **_PROSE_SUFFIXES}
"""Lower-case file suffix -> format name. Files with other suffixes are read as text."""
READERS: dict[str, Reader] = {"jsonl": read_jsonl, "json": read_json, "pdf": read_pdf}
"""Formats whose parsing can skip part of a file with a warning."""


def detect_format(path: Path) -> str:
    """The format name for a path, from its suffix; ``text`` when the suffix is unknown."""
    return SUFFIXES.get(path.suffix.lower(), "text")


def parse_file(path: Path, max_bytes: int) -> ParsedFile:
    """Read one file and parse it with the parser its suffix selects.

    Args:
        path: the file, already resolved to an absolute path.
        max_bytes: files larger than this are refused (setting ``ingest.max_file_bytes``).

    Raises:
        IngestError: the file cannot be read, is too large, binary, or cannot be parsed.
    """
    info = _stat(path)
    if info.st_size > max_bytes:
        raise _too_large(path, info.st_size, max_bytes)
    data = _read(path)
    file_format = detect_format(path)
    if file_format in CODE_FORMATS:
        _refuse_minified(path, data)
    if not data.strip():  # still a document, so that an emptied file's old text leaves
        return ParsedFile(PARSERS["text"](path, b"", info.st_mtime),
                          ["empty file: nothing in it to search"])
    if file_format in READERS:
        documents, warnings = READERS[file_format](path, data, info.st_mtime)
        return ParsedFile(documents, warnings)
    return ParsedFile(PARSERS[file_format](path, data, info.st_mtime), [])


STREAM_BYTES = 4 * 2**20
"""A JSONL file of this size or more is read a batch of documents at a time
(``stream_jsonl``), so what indexing it holds does not grow with the file."""


@dataclass(frozen=True, slots=True)
class StreamedFile:
    """A file's documents in batches, read as they are asked for, and what its first pass
    skipped."""

    batches: Iterator[list[Document]]
    warnings: list[str]


def read_file(path: Path, max_bytes: int, batch: int) -> ParsedFile | StreamedFile:
    """``stream_file`` where it streams, else ``parse_file``."""
    return stream_file(path, max_bytes, batch) or parse_file(path, max_bytes)


def stream_file(path: Path, max_bytes: int, batch: int) -> StreamedFile | None:
    """A large UTF-8 JSONL file's documents, ``batch`` at a time; None for a file to read
    whole with ``parse_file`` (any other, and a UTF-16 one).

    Raises:
        IngestError: as ``parse_file``, and before any document is made.
    """
    info = _stat(path)
    if detect_format(path) != "jsonl" or info.st_size < STREAM_BYTES:
        return None
    if info.st_size > max_bytes:
        raise _too_large(path, info.st_size, max_bytes)
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise IngestError(str(path), f"cannot read: {os_error_reason(exc)}") from None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
        return None  # decode_bytes tells UTF-16 from binary on the whole file
    warnings, batches = stream_jsonl(path, info.st_mtime, batch)
    return StreamedFile(batches, warnings)


MINIFIED_LINE = 5_000
"""Characters: code with a line this long, and lines of over ``MINIFIED_MEAN`` on average, is
minified or generated (bundles, source maps' companions): one line holds a whole program, its
chunks would read as noise, and the file is not indexed."""
MINIFIED_MEAN = 300


def _refuse_minified(path: Path, data: bytes) -> None:
    lines = data.split(b"\n")
    longest = max(len(line) for line in lines)
    if longest >= MINIFIED_LINE and len(data) / len(lines) >= MINIFIED_MEAN:
        raise IngestError(str(path), f"minified or generated code (a line of {longest:,} "
                          "characters): not indexed, as its chunks would read as noise")


def _too_large(path: Path, size: int, max_bytes: int) -> IngestError:
    return IngestError(str(path), f"file is {size:,} bytes, over the limit of {max_bytes:,}; "
                       "raise ingest.max_file_bytes to index it")


def _stat(path: Path) -> os.stat_result:
    try:
        info = path.stat()
    except OSError as exc:
        raise IngestError(str(path), f"cannot read: {os_error_reason(exc)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise IngestError(str(path), "not a regular file; pass files or folders")
    return info


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(str(path), f"cannot read: {os_error_reason(exc)}") from None
