"""JSON Lines and JSON record files: each record becomes one document.

The BEIR corpus layout (``{"_id", "title", "text"}``) is first class; records keyed by ``id``
with their text under ``text``, ``content``, ``body`` or ``contents`` are read too. A bad line
is skipped with a warning that names it, and the rest of the file is indexed.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lore.errors import IngestError, os_error_reason
from lore.ingest.code import extract_blocks
from lore.ingest.languages import LANGUAGE_BY_SUFFIX, sniff_language
from lore.ingest.normalize import decode_bytes, normalize_text
from lore.text.script import detect_language
from lore.text.sentences import paragraph_spans
from lore.types import Block, Document

KEY_FIELDS = ("_id", "id", "doc_id", "docid")
TEXT_FIELDS = ("text", "content", "body", "contents")
MAX_WARNINGS = 20
"""Bad records reported one by one; past this, one summary line counts the rest."""
_SCALARS = (str, int, float, bool)
_CODE_LANGUAGES = frozenset(LANGUAGE_BY_SUFFIX.values())


@dataclass(frozen=True)
class JsonLineError:
    """A line that is not valid JSON: its message, to warn with."""

    message: str


@dataclass
class _Reader:
    """Documents and warnings of one file, filled record by record (private, mutable).

    Records keep the ids they carry; one without an id is named after its place (``line 7``,
    ``item 3``), after every record's own id is known, so that such a name never takes an id
    a record carries (a suffix ``#2``, ``#3`` makes it unique if need be).
    """

    path: Path
    mtime: float
    file_format: str
    records: list[tuple[str, str, str, dict[str, object]]] = field(default_factory=list)
    """(where, id or "", text, record) of each record with a text, in file order."""
    warnings: list[str] = field(default_factory=list)
    bad: int = 0
    keep_text: bool = True
    """False: keep each record's place and key only (``stream_jsonl``'s first pass)."""

    def add(self, where: str, value: object) -> None:
        if isinstance(value, JsonLineError):
            self.warn(f"{where}: {value.message}")
            return
        if not isinstance(value, dict):
            self.warn(f"{where}: expected a JSON object, found {type(value).__name__}; skipped")
            return
        text = _first_string(value, TEXT_FIELDS)
        if text is None:
            self.warn(f"{where}: no text field (expected one of {', '.join(TEXT_FIELDS)}); "
                      "skipped")
            return
        self.records.append((where, _key(value), text, value) if self.keep_text
                            else (where, _key(value), "", {}))

    def warn(self, message: str) -> None:
        self.bad += 1
        if self.bad <= MAX_WARNINGS:
            self.warnings.append(message)

    def result(self) -> tuple[list[Document], list[str]]:
        documents = [_record_document(self.path, self.mtime, self.file_format, key, text,
                                      value) for key, (_, _, text, value) in self._named()]
        return documents, self._finish(bool(documents))

    def names(self) -> tuple[dict[str, tuple[str, str]], list[str]]:
        """By where each record is, its document key and the id it carries (or ""), and the
        warnings: all a second pass over the file needs to make the documents."""
        named = {record[0]: (key, record[1]) for key, record in self._named()}
        return named, self._finish(bool(named))

    def _finish(self, found: bool) -> list[str]:
        if self.bad > MAX_WARNINGS:
            self.warnings.append(f"{self.bad - MAX_WARNINGS} more bad records not listed")
        if not found and self.warnings:
            first = self.warnings[0]
            raise IngestError(str(self.path), f"no valid records; first problem: {first}")
        return self.warnings

    def _named(self) -> Iterator[tuple[str, tuple[str, str, str, dict[str, object]]]]:
        first_seen: dict[str, str] = {}
        for where, key, _, _ in self.records:
            if key:
                first_seen.setdefault(key, where)
        taken = set(first_seen)
        for record in self.records:
            where, key = record[0], record[1]
            if key and first_seen[key] != where:
                self.warn(f"{where}: duplicate id {key!r} (first at {first_seen[key]}); "
                          "skipped")
                continue
            if not key:
                key = _unused(where, taken)
                taken.add(key)
            yield key, record


def _unused(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    return next(f"{name}#{n}" for n in range(2, len(taken) + 3) if f"{name}#{n}" not in taken)


def parse_jsonl(path: Path, data: bytes, mtime: float) -> list[Document]:
    """Parse a ``.jsonl`` file; ``read_jsonl`` also returns the warnings for skipped lines."""
    return read_jsonl(path, data, mtime)[0]


def read_jsonl(path: Path, data: bytes, mtime: float) -> tuple[list[Document], list[str]]:
    """One document per JSON object line, and a warning per line that was skipped.

    Raises:
        IngestError: the file is binary or not UTF-8, or no line holds a valid record.

    Example:
        >>> line = b'{"_id": "d1", "title": "Cats", "text": "Cats purr."}'
        >>> docs, warnings = read_jsonl(Path("/corpus.jsonl"), line + b"\\n{oops\\n", 0.0)
        >>> docs[0].key, docs[0].title, warnings
        ('d1', 'Cats', ['line 2: invalid JSON (Expecting property name enclosed in double \
quotes, column 2); skipped'])
    """
    reader = _Reader(path, mtime, "jsonl")
    for number, line in enumerate(decode_bytes(path, data).split("\n"), start=1):
        line = line.strip()
        if line:
            reader.add(f"line {number}", _loads(line))
    return reader.result()


def stream_jsonl(path: Path, mtime: float, batch: int) -> tuple[list[str],
                                                                Iterator[list[Document]]]:
    """``read_jsonl`` for a file too large to hold parsed: the warnings, and the documents
    in lists of ``batch``, in file order.

    A first pass reads every line and settles each record's key (``read_jsonl``'s rules), so
    the whole-file errors are raised here, before any document is made; the second reads the
    file again and makes the documents as they are asked for. Memory holds the keys and one
    batch, not the file.

    Raises:
        IngestError: as ``read_jsonl``; also a file that changed between the two passes.
    """
    reader = _Reader(path, mtime, "jsonl", keep_text=False)
    for where, value in _records(path):
        reader.add(where, value)
    keys, warnings = reader.names()
    return warnings, _documents(path, mtime, keys, batch)


def _documents(path: Path, mtime: float, keys: dict[str, tuple[str, str]], batch: int
               ) -> Iterator[list[Document]]:
    made: list[Document] = []
    for where, value in _records(path):
        planned = keys.pop(where, None)
        if planned is None:
            continue  # skipped, and warned about, in the first pass
        text = _first_string(value, TEXT_FIELDS) if isinstance(value, dict) else None
        if text is None or not isinstance(value, dict) or _key(value) != planned[1]:
            raise IngestError(str(path), f"changed while being indexed ({where}); index it "
                              "again")
        made.append(_record_document(path, mtime, "jsonl", planned[0], text, value))
        if len(made) == batch:
            yield made
            made = []
    if keys:
        raise IngestError(str(path), "changed while being indexed (lines left); index it "
                          "again")
    if made:
        yield made


def _records(path: Path) -> Iterator[tuple[str, object]]:
    """``("line N", parsed value)`` of each non-blank line of a UTF-8 file, read line by
    line; a line that is not JSON gives a ``JsonLineError`` value."""
    offset = 0  # in the text after any byte-order mark, as decode_bytes counts
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
                start, offset = offset, offset + len(raw)
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    at = start + exc.start
                    raise IngestError(str(path), f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} "
                                      f"at offset {at}); convert it to UTF-8 first, for "
                                      "example `iconv -f latin1 -t utf-8 in.txt > out.txt`"
                                      ) from None
                if line:
                    yield f"line {number}", _loads(line)
    except OSError as exc:
        raise IngestError(str(path), f"cannot read: {os_error_reason(exc)}") from None


def _loads(line: str) -> object:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return JsonLineError(f"invalid JSON ({exc.msg}, column {exc.colno}); skipped")


def parse_json(path: Path, data: bytes, mtime: float) -> list[Document]:
    """Parse a ``.json`` file; ``read_json`` also returns the warnings for skipped items."""
    return read_json(path, data, mtime)[0]


def read_json(path: Path, data: bytes, mtime: float) -> tuple[list[Document], list[str]]:
    """A list of records (or one record) gives one document each; other JSON gives one
    text document of its pretty-printed content.

    Raises:
        IngestError: the file is not valid JSON (the message gives line and column).
    """
    try:
        value = json.loads(decode_bytes(path, data))
    except json.JSONDecodeError as exc:
        raise IngestError(str(path), f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                          f"{exc.msg}") from None
    reader = _Reader(path, mtime, "json")
    if _is_record(value):
        reader.add("item 1", value)
    elif isinstance(value, list) and any(_is_record(item) for item in value):
        for number, item in enumerate(value, start=1):
            reader.add(f"item {number}", item)
    else:
        return [_pretty_document(path, mtime, value)], []
    return reader.result()


def _is_record(value: object) -> bool:
    return isinstance(value, dict) and _first_string(value, TEXT_FIELDS) is not None


def _first_string(record: Mapping[str, object], names: Iterable[str]) -> str | None:
    for name in names:
        value = record.get(name)
        if isinstance(value, str):
            return value
    return None


def _key(record: Mapping[str, object]) -> str:
    for name in KEY_FIELDS:
        value = record.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return ""


def _record_document(path: Path, mtime: float, file_format: str, key: str, text: str,
                     record: Mapping[str, object]) -> Document:
    title = record.get("title")
    title = " ".join(title.split()) if isinstance(title, str) else ""
    body = normalize_text(text) or title
    language = _code_language(record, body)
    if language is not None:
        blocks = tuple(extract_blocks(body, language, module=key))
        if blocks:
            return Document(path=str(path), text=body, key=key, title=title or key,
                            format=language, language=language, mtime=mtime, blocks=blocks,
                            meta=dict(_meta(record)))
    blocks = tuple(Block(body[a:b], a, b) for a, b in paragraph_spans(body))
    return Document(
        path=str(path), text=body, key=key, title=title, format=file_format,
        language=detect_language(body), mtime=mtime, blocks=blocks, meta=dict(_meta(record)),
    )


def _code_language(record: Mapping[str, object], body: str) -> str | None:
    """A record is code when its ``language`` field names a known one, or when its text opens
    with a definition (CodeSearchNet and CoSQA records hold one function each)."""
    named = record.get("language")
    if isinstance(named, str) and named.lower() in _CODE_LANGUAGES:
        return named.lower()
    return sniff_language(body)


def _meta(record: Mapping[str, object]) -> Iterator[tuple[str, str]]:
    """Scalar fields besides id, title and text (and those of a BEIR ``metadata`` object)."""
    skip = {*KEY_FIELDS, *TEXT_FIELDS, "title", "metadata", "language"}
    nested = record.get("metadata")
    sources = [record, nested] if isinstance(nested, dict) else [record]
    for source in sources:
        for name, value in source.items():
            if name not in skip and isinstance(value, _SCALARS) and value != "":
                yield str(name), str(value)


def _pretty_document(path: Path, mtime: float, value: object) -> Document:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    blocks = tuple(Block(text[a:b], a, b) for a, b in paragraph_spans(text))
    return Document(path=str(path), text=text, title=path.name, format="json",
                    language=detect_language(text), mtime=mtime, blocks=blocks)
