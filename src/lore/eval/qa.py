"""Question answering sets and a run's summary: ``qa.jsonl`` read without showing the system
the gold, and per-question scores aggregated.

A QA folder holds ``qa.jsonl``, one ``{"_id", "question", "answers", ...}`` per line. Only the
id and the question ever reach the system (:class:`QAItem`); the gold answers and gold
documents stay in :class:`QASet` for scoring, because the other fields (``answer_starts``,
``supporting_facts``) give the answer away.

How one answer is scored against the gold (exact match, token F1, answer-in-context, by the
official SQuAD v1.1 and CMRC 2018 rules) is :mod:`lore.eval.answer_scores`. A run keeps those
scores per question in :class:`QARecord`, and :func:`aggregate` summarises them.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from lore.errors import ConfigError
from lore.eval.answer_scores import Language, language_of
from lore.train.qa_split import QAExample, QASplit, split_examples

SplitSide = Literal["train", "test"]

# --- loading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QAItem:
    """What the system under test may see of one question: its id and text, nothing else."""

    id: str
    question: str


@dataclass(frozen=True)
class QASet:
    """The questions of one QA folder, and the gold kept apart from them for scoring.

    Example::

        qa = load_qa(Path("shared/data/squad-v1.1-dev"), limit=100, seed=0)
        first = qa.items[0]          # only first.id and first.question go to the system
        f1("Denver Broncos", qa.gold[first.id], qa.language)
    """

    name: str
    items: list[QAItem]
    gold: dict[str, list[str]]
    """Question id -> every reference answer (several annotators; score against the best)."""
    gold_docs: dict[str, list[str]] = field(default_factory=dict)
    """Question id -> ids of the documents holding the answer (``doc_id`` or ``gold_doc_ids``),
    for questions whose line names them."""
    language: Language = "en"
    """``"zh"`` when at least half the questions hold a CJK ideograph: the scoring rule."""


def load_qa(folder: Path, limit: int | None = None, seed: int | None = None,
            split: SplitSide | None = None) -> QASet:
    """Read ``folder/qa.jsonl`` (or the ``.jsonl`` file itself when given one).

    Args:
        folder: a QA folder from ``shared/data`` or a ``qa.jsonl`` path.
        limit: keep this many questions: the first ones in file order, or with ``seed`` a
            reproducible sample, ``random.Random(seed).sample(in_file_order, limit)`` in the
            order it draws them. ``seed`` alone keeps every question in file order.
        split: keep only the ``train`` or ``test`` side of ``lore.train.qa_split``'s rule
            (titles from the folder's ``corpus.jsonl``), before ``limit``.

    Raises:
        ConfigError: the file is missing, or a line is not JSON or lacks ``_id``, ``question``
            or ``answers``; the message names the file and line.
    """
    path = Path(folder).expanduser()
    if path.is_dir():
        path = path / "qa.jsonl"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: a QA folder holds qa.jsonl, one JSON object with "
                          "_id, question and answers per line")
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be 0 or more, got {limit}")
    items, gold, gold_docs = _read_lines(path)
    if split is not None:
        side = split_qa(path, items, gold, gold_docs)
        wanted = {e.id for e in (side.test if split == "test" else side.train)}
        items = [item for item in items if item.id in wanted]
    if limit is not None:
        items = (random.Random(seed).sample(items, min(limit, len(items))) if seed is not None
                 else items[:limit])
        kept = {item.id for item in items}
        gold = {qid: answers for qid, answers in gold.items() if qid in kept}
        gold_docs = {qid: docs for qid, docs in gold_docs.items() if qid in kept}
    name = path.parent.name if path.name == "qa.jsonl" else path.stem
    return QASet(name, items, gold, gold_docs, set_language([item.question for item in items]))


def split_qa(path: Path, items: Sequence[QAItem], gold: dict[str, list[str]],
             gold_docs: dict[str, list[str]]) -> QASplit:
    """The questions of ``path`` (a ``qa.jsonl``) split by ``lore.train.qa_split``'s rule."""
    examples = [QAExample(i.id, i.question, tuple(gold[i.id]), tuple(gold_docs.get(i.id, ())))
                for i in items]
    return split_examples(examples, corpus_titles(path.parent / "corpus.jsonl"))


def qa_examples(folder: Path) -> tuple[list[QAExample], QASplit]:
    """Every question of a QA folder as training reads it, and the split of them."""
    path = Path(folder).expanduser()
    path = path / "qa.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(f"{path} is missing: a QA folder holds qa.jsonl")
    items, gold, gold_docs = _read_lines(path)
    split = split_qa(path, items, gold, gold_docs)
    return [*split.train, *split.test, *split.left_out], split


def corpus_titles(corpus: Path) -> dict[str, str]:
    """Document key -> title, from a BEIR ``corpus.jsonl`` (empty when there is none)."""
    if not corpus.is_file():
        return {}
    titles: dict[str, str] = {}
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                titles[str(record["_id"])] = str(record.get("title", ""))
    return titles


def _read_lines(path: Path) -> tuple[list[QAItem], dict[str, list[str]], dict[str, list[str]]]:
    """Every question in file order; blank lines skipped, CRLF and a BOM tolerated.

    Lines are split at ``\n`` only: ``str.splitlines`` would also split at U+2028 and U+0085,
    which JSON allows unescaped inside strings.
    """
    items: list[QAItem] = []
    gold: dict[str, list[str]] = {}
    gold_docs: dict[str, list[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} cannot be read as UTF-8 text: {error}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item, answers, docs = _parse_line(line.rstrip("\r"), f"{path} line {number}")
        if item.id in gold:
            raise ConfigError(f"{path} line {number}: duplicate _id {item.id!r}")
        items.append(item)
        gold[item.id] = answers
        if docs:
            gold_docs[item.id] = docs
    return items, gold, gold_docs


def _parse_line(line: str, where: str) -> tuple[QAItem, list[str], list[str]]:
    expected = "expected a JSON object with _id, question and answers (a list of strings)"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{where}: not JSON ({error.msg}); {expected}") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: {expected}, found {type(record).__name__}")
    missing = [key for key in ("_id", "question", "answers") if key not in record]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}; {expected}")
    question, answers = record["question"], record["answers"]
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"{where}: question must be a non-empty string")
    if not _is_text_list(answers) or not answers:
        raise ConfigError(f"{where}: answers must be a non-empty list of strings")
    return QAItem(str(record["_id"]), question), list(answers), _gold_docs(record)


def _gold_docs(record: dict[str, Any]) -> list[str]:
    """SQuAD and CMRC name one paragraph (``doc_id``); HotpotQA two (``gold_doc_ids``)."""
    docs = record.get("gold_doc_ids", record.get("doc_id"))
    if isinstance(docs, str | int):
        return [str(docs)]
    return [str(doc) for doc in docs] if isinstance(docs, list) else []


def set_language(questions: Sequence[str]) -> Language:
    """Chinese when at least half the questions are, else English."""
    chinese = sum(language_of(question) == "zh" for question in questions)
    return "zh" if questions and 2 * chinese >= len(questions) else "en"


def _is_text_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# --- aggregation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QARecord:
    """One answered question's scores and timings, as an eval run saves them."""

    id: str
    exact_match: float
    f1: float
    answer_in_context: bool
    """Some gold answer occurs in the text the generator read."""
    citation_precision: float | None
    """Share of the citations the model wrote whose source holds a gold answer; None when
    it wrote none."""
    not_found: bool
    """The system answered that the knowledge base does not say."""
    first_token_s: float | None
    """Seconds to the first generated token; None when nothing was generated."""
    total_s: float
    shown_citation_precision: float | None = None
    """The same over every citation the answer shows: the model's and those lore inferred
    for sentences that cited nothing (``citations.attribute``)."""
    strategy: str = "single"
    """The query strategy that answered (``auto`` records the one it chose)."""
    model_calls: int = 0
    model_tokens: int = 0
    all_gold_read: bool | None = None
    """Every gold document of the question is among the sources the answer read; None when
    the set names no gold documents."""
    all_gold_retrieved: bool | None = None
    """Every gold document was found by some retrieval of the question's strategy."""


@dataclass(frozen=True, slots=True)
class QAScores:
    """Means and medians over a run, in the units ``lore eval qa --json`` prints.

    ``exact_match`` and ``f1`` are percentages (the SQuAD and CMRC convention); the rates are
    fractions in 0..1. A statistic with nothing to average is None.

    Example::

        scores = aggregate([QARecord("q1", 1.0, 1.0, True, None, False, 0.2, 1.5)])
        scores.as_dict()["f1"]  # 100.0
    """

    questions: int
    exact_match: float | None
    f1: float | None
    answer_in_context: float | None
    citation_precision: float | None
    """Mean over the questions whose answer cited something (citations the model wrote)."""
    not_found_rate: float | None
    median_first_token_s: float | None
    median_total_s: float | None
    shown_citation_precision: float | None = None
    """Mean over the questions whose answer shows a citation, inferred ones included."""
    mean_model_calls: float | None = None
    mean_model_tokens: float | None = None
    all_gold_read: float | None = None
    """Share of the questions with every gold document among the sources read."""
    all_gold_retrieved: float | None = None
    """Share of the questions with every gold document found by some retrieval step."""

    def as_dict(self) -> dict[str, float | int | None]:
        """Field name -> value, ready for ``json.dumps`` (None becomes null)."""
        return asdict(self)


def aggregate(records: Sequence[QARecord]) -> QAScores:
    """Summarise per-question records into one :class:`QAScores`."""
    em, f1_ = _mean([r.exact_match for r in records]), _mean([r.f1 for r in records])
    return QAScores(
        questions=len(records),
        exact_match=None if em is None else 100 * em,
        f1=None if f1_ is None else 100 * f1_,
        answer_in_context=_mean([float(r.answer_in_context) for r in records]),
        citation_precision=_mean([r.citation_precision for r in records
                                  if r.citation_precision is not None]),
        not_found_rate=_mean([float(r.not_found) for r in records]),
        median_first_token_s=_median([r.first_token_s for r in records
                                      if r.first_token_s is not None]),
        median_total_s=_median([r.total_s for r in records]),
        shown_citation_precision=_mean([r.shown_citation_precision for r in records
                                        if r.shown_citation_precision is not None]),
        mean_model_calls=_mean([float(r.model_calls) for r in records]),
        mean_model_tokens=_mean([float(r.model_tokens) for r in records]),
        all_gold_read=_mean([float(r.all_gold_read) for r in records
                             if r.all_gold_read is not None]),
        all_gold_retrieved=_mean([float(r.all_gold_retrieved) for r in records
                                  if r.all_gold_retrieved is not None]),
    )


def by_strategy(records: Sequence[QARecord]) -> dict[str, QAScores]:
    """``aggregate`` per strategy that answered (the routes ``auto`` took)."""
    names = dict.fromkeys(r.strategy for r in records)
    return {name: aggregate([r for r in records if r.strategy == name]) for name in names}


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None
