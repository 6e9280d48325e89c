"""JSON Lines and JSON record files: each record becomes one document.

The BEIR corpus layout (``{"_id", "title", "text"}``) is first class; records keyed by ``id``
with their text under ``text``, ``content``, ``body`` or ``contents`` are read too. A bad line
is skipped with a warning that names it, and the rest of the file is indexed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lore.errors import IngestError
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

    def add(self, where: str, value: object) -> None:
        if not isinstance(value, dict):
            self.warn(f"{where}: expected a JSON object, found {type(value).__name__}; skipped")
            return
        text = _first_string(value, TEXT_FIELDS)
        if text is None:
            self.warn(f"{where}: no text field (expected one of {', '.join(TEXT_FIELDS)}); "
                      "skipped")
            return
        self.records.append((where, _key(value), text, value))

    def warn(self, message: str) -> None:
        self.bad += 1
        if self.bad <= MAX_WARNINGS:
            self.warnings.append(message)

    def result(self) -> tuple[list[Document], list[str]]:
        documents = [_record_document(self.path, self.mtime, self.file_format, key, text,
                                      value) for key, text, value in self._named()]
        if self.bad > MAX_WARNINGS:
            self.warnings.append(f"{self.bad - MAX_WARNINGS} more bad records not listed")
        if not documents and self.warnings:
            first = self.warnings[0]
            raise IngestError(str(self.path), f"no valid records; first problem: {first}")
        return documents, self.warnings

    def _named(self) -> Iterator[tuple[str, str, dict[str, object]]]:
        first_seen: dict[str, str] = {}
        for where, key, _, _ in self.records:
            if key:
                first_seen.setdefault(key, where)
        taken = set(first_seen)
        for where, key, text, value in self.records:
            if key and first_seen[key] != where:
                self.warn(f"{where}: duplicate id {key!r} (first at {first_seen[key]}); "
                          "skipped")
                continue
            if not key:
                key = _unused(where, taken)
                taken.add(key)
            yield key, text, value


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
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            reader.warn(f"line {number}: invalid JSON ({exc.msg}, column {exc.colno}); skipped")
            continue
        reader.add(f"line {number}", value)
    return reader.result()


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
