"""Benchmark sets in the BEIR layout: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Only what a system may see is read from the queries: their id and text. Query metadata often
holds gold answers (SciFact's holds evidence sentences), so it never leaves this module.
Judgment files may have CRLF line endings (SciFact's do) and a header line.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lore.errors import ConfigError
from lore.train.pairs import PairSet, pairs_from_judgments

Qrels = dict[str, dict[str, int]]


@dataclass(frozen=True)
class BeirSet:
    """The judged queries of one split, and where the corpus is."""

    name: str
    directory: Path
    split: str
    queries: dict[str, str]
    """Query id -> text, for the queries that have at least one positive judgment."""
    qrels: Qrels
    """Query id -> {document id: graded relevance > 0}."""

    @property
    def corpus(self) -> Path:
        return self.directory / "corpus.jsonl"


def splits(directory: Path) -> list[str]:
    """The judgment splits present, e.g. ``["test", "train"]``."""
    return sorted(p.stem for p in (directory / "qrels").glob("*.tsv"))


def load_beir(directory: str | Path, split: str = "test", limit: int | None = None) -> BeirSet:
    """Read a BEIR folder's judged queries for ``split`` (the first ``limit`` of them, in file
    order, when given).

    Raises:
        ConfigError: a file is missing or a line is malformed; the message names it.
    """
    directory = Path(directory).expanduser()
    for needed in ("corpus.jsonl", "queries.jsonl"):
        if not (directory / needed).is_file():
            raise ConfigError(f"{directory} is not a BEIR folder: {needed} is missing (expected "
                              "corpus.jsonl, queries.jsonl and qrels/<split>.tsv)")
    qrels_path = directory / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = ", ".join(splits(directory)) or "none"
        raise ConfigError(f"{qrels_path} is missing; splits in {directory}: {found}")
    qrels = read_qrels(qrels_path)
    queries = read_queries(directory / "queries.jsonl", wanted=qrels.keys())
    unknown = [qid for qid in qrels if qid not in queries]
    if unknown:
        raise ConfigError(f"{qrels_path} judges {len(unknown)} queries missing from "
                          f"queries.jsonl (first: {unknown[0]!r})")
    if limit is not None:
        kept = list(queries)[:limit]
        queries = {qid: queries[qid] for qid in kept}
        qrels = {qid: qrels[qid] for qid in kept}
    return BeirSet(directory.name, directory, split, queries, qrels)


def read_qrels(path: Path) -> Qrels:
    """``query-id<TAB>corpus-id<TAB>score`` lines; the header and non-positive scores skipped."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\r\n").split("\t")
            if number == 1 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if parts == [""]:
                continue
            if len(parts) != 3 or not parts[2].lstrip("-").isdigit():
                raise ConfigError(f"{path} line {number}: expected query-id, corpus-id and an "
                                  f"integer score separated by tabs, found {line.strip()!r}")
            if int(parts[2]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def read_queries(path: Path, wanted: Container[str] | None = None) -> dict[str, str]:
    """Query id -> text, in file order; only ids in ``wanted`` when given. Metadata is dropped."""
    queries: dict[str, str] = {}
    for qid, record in _records(path, "_id and text"):
        if wanted is None or qid in wanted:
            queries[qid] = str(record["text"])
    return queries


def read_corpus(path: Path, wanted: Container[str] | None = None) -> dict[str, str]:
    """Document id -> its title and text (``title\\n\\ntext``), for the ids in ``wanted``."""
    texts: dict[str, str] = {}
    for doc_id, record in _records(path, "_id, title and text"):
        if wanted is None or doc_id in wanted:
            title, text = str(record.get("title") or ""), str(record["text"])
            texts[doc_id] = f"{title}\n\n{text}".strip()
    return texts


def _records(path: Path, fields: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, record) of each line of a BEIR JSONL file; a record without ``_id`` and ``text``
    is an error naming its line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key, _ = str(record["_id"]), record["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ConfigError(f"{path} line {number}: expected a JSON object with "
                                  f"{fields}") from None
            yield key, record


def beir_pairs(directory: str | Path, split: str) -> PairSet:
    """Training pairs from a BEIR folder's ``qrels/<split>.tsv``: each judged (query,
    relevant document), the query's text only."""
    judged = load_beir(directory, split)
    relevant = {doc for documents in judged.qrels.values() for doc in documents}
    documents = read_corpus(judged.corpus, relevant)
    return pairs_from_judgments(judged.queries, {q: list(d) for q, d in judged.qrels.items()},
                                documents, f"{judged.directory} qrels/{split}.tsv")
