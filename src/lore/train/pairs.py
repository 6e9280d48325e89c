"""Training pairs: a query, a passage that answers it, and passages that do not.

Two sources: a JSONL file of labelled pairs, one object a line,

    {"query": "...", "positive": "...", "negatives": ["...", ...]}

(``negatives`` optional), or a set's relevance judgments (``pairs_from_judgments``): one pair
per judged (query, relevant document). Synthetic questions, which the local model writes for
chunks of the knowledge base, become pairs of the same shape.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lore.errors import ConfigError

MIN_PAIRS = 8
"""Fewer pairs than this cannot fill one batch of in-batch negatives: refused, not trained."""


@dataclass(frozen=True, slots=True)
class Pair:
    """One training example."""

    query: str
    positive: str
    negatives: tuple[str, ...] = ()
    """Passages known or mined not to answer ``query``."""
    source: str = ""
    """Where the pair came from (``file:line``, or the query and document ids), for errors."""


@dataclass(frozen=True)
class PairSet:
    """Pairs and a fingerprint of them: a trained model records what it was trained on."""

    pairs: tuple[Pair, ...]
    origin: str
    """The file or set the pairs were read from."""
    skipped: tuple[str, ...] = field(default=())
    """Why each input that gave no pair was left out."""

    @property
    def digest(self) -> str:
        """sha256 over every pair's text, in order: the same pairs give the same digest."""
        hasher = hashlib.sha256()
        for pair in self.pairs:
            for text in (pair.query, pair.positive, *pair.negatives):
                hasher.update(text.encode("utf-8") + b"\x00")
            hasher.update(b"\x01")
        return hasher.hexdigest()


def load_pairs(path: str | Path) -> PairSet:
    """Read labelled pairs from a JSONL file.

    Raises:
        ConfigError: the file is missing or empty, a line is not a JSON object with text
            ``query`` and ``positive`` fields (and, if given, a list of text ``negatives``),
            or it holds fewer than ``MIN_PAIRS`` pairs; the message names the file and line.
    """
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"no pairs file at {path}: pass a JSONL file of "
                          '{"query": ..., "positive": ...} lines') from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save it as UTF-8 JSONL") from None
    pairs = [_pair(line, f"{path}:{number}")
             for number, line in enumerate(lines, start=1) if line.strip()]
    return checked(PairSet(tuple(pairs), str(path)))


def pairs_from_judgments(queries: Mapping[str, str], judgments: Mapping[str, Iterable[str]],
                         documents: Mapping[str, str], origin: str) -> PairSet:
    """One pair per judged (query, relevant document): BEIR's ``qrels`` made into pairs.

    Args:
        queries: query id -> text (only the text: never a query's metadata).
        judgments: query id -> ids of the documents judged relevant to it.
        documents: document id -> text.
        origin: what the judgments are (``scifact qrels/train.tsv``), for messages.
    """
    pairs: list[Pair] = []
    skipped: list[str] = []
    for qid, relevant in judgments.items():
        query = queries.get(qid)
        for doc_id in relevant:
            text = documents.get(doc_id)
            if query is None or text is None:
                missing = "query" if query is None else "document"
                skipped.append(f"query {qid} / document {doc_id}: the {missing} is missing")
                continue
            pairs.append(Pair(query, text, source=f"query {qid} / document {doc_id}"))
    return checked(PairSet(tuple(pairs), origin, tuple(skipped)))


def checked(pairs: PairSet) -> PairSet:
    """``pairs`` if there are enough of them to train on."""
    if len(pairs.pairs) < MIN_PAIRS:
        raise ConfigError(f"{pairs.origin} gives {len(pairs.pairs)} training pairs; at least "
                          f"{MIN_PAIRS} are needed (one batch of in-batch negatives)")
    return pairs


def _pair(line: str, where: str) -> Pair:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{where}: not JSON ({error.msg}); each line must be one object "
                          'such as {"query": ..., "positive": ...}') from None
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: a JSON {type(record).__name__}, not an object with "
                          '"query" and "positive"')
    query, positive = (_text(record, name, where) for name in ("query", "positive"))
    return Pair(query, positive, _negatives(record.get("negatives", []), where), where)


def _text(record: Mapping[str, object], name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {name!r} must be non-empty text, got {value!r}")
    return value


def _negatives(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: 'negatives' must be a list of non-empty texts")
    return tuple(value)


def with_negatives(pair: Pair, negatives: Sequence[str]) -> Pair:
    """``pair`` with ``negatives`` added after its own (duplicates and the positive left out)."""
    kept = dict.fromkeys(pair.negatives)
    kept.update(dict.fromkeys(n for n in negatives if n != pair.positive))
    return Pair(pair.query, pair.positive, tuple(kept), pair.source)
