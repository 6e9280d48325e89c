"""Question answering sets and their scores: exact match, token F1, answer-in-context.

A QA folder holds ``qa.jsonl``, one ``{"_id", "question", "answers", ...}`` per line. Only the
id and the question ever reach the system (:class:`QAItem`); the gold answers and gold
documents stay in :class:`QASet` for scoring, because the other fields (``answer_starts``,
``supporting_facts``) give the answer away.

Scores follow the official scripts so numbers compare with published ones:

- English: the SQuAD v1.1 ``evaluate-v1.1.py`` rule. Lowercase, drop ASCII punctuation and the
  articles a/an/the, collapse whitespace; EM compares the strings, F1 the bags of words.
  Checked identical to the script on spans of SQuAD dev passages.
- Chinese: the CMRC 2018 ``cmrc2018_evaluate.py`` rule. Each CJK ideograph is a token, the
  runs between them are split into words (English words and numbers stay whole); F1 counts
  the *longest common contiguous run* of tokens (the official ``find_lcs``), not the bag
  overlap. Two departures: all punctuation is dropped, where the official script drops only
  its own list and keeps, say, ``&`` or ``(`` as tokens; and full-width punctuation breaks
  words rather than fusing its neighbours (``_CMRC_JOINERS``). On spans of CMRC dev passages
  scored against their gold answers, these departures barely move the mean F1.

HotpotQA's own script scores like SQuAD's plus one rule, not applied here: a prediction or
gold of ``yes``/``no``/``noanswer`` that differs from the other scores 0.

A prediction and one gold answer are scored with the Chinese rule when either holds a CJK
ideograph (:func:`language_of`), otherwise with the English one. ``language=`` forces a rule:
pass :attr:`QASet.language` to score a whole set by its official script, since about 2% of
CMRC's gold answers hold no ideograph (``Henry A. Walsh``, ``《Introduction》``) and the English
rule would keep the ``《》`` and drop the articles. Every score is in 0..1, the best over the
gold answers; reports multiply by 100.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from lore.errors import ConfigError

Language = Literal["en", "zh"]
"""``"en"``: the SQuAD v1.1 rule. ``"zh"``: the CMRC 2018 rule."""

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
"""CJK ideographs (Extension A, the basic block, compatibility, the supplementary planes).
CMRC's script tests only U+4E00..U+9FA5; the two Extension A characters in its dev answers
(``㑩``, ``㭴``) sit between other ideographs, so they are single tokens either way."""
_HAS_CJK = re.compile(f"[{_CJK}]")
_CJK_TOKEN = re.compile(f"[{_CJK}]|[^{_CJK}]+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_CMRC_JOINERS = frozenset("-:_*^/\\~`+=·－～")
"""The joining marks of the official CMRC punctuation list. They vanish in place, as there, so
``ω-force`` is one token ``ωforce``. The rest of that list (``，。《》「」``...) breaks words
instead: deleting it in place would fuse ``第51。2008年`` into ``512008``."""


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


def load_qa(folder: Path, limit: int | None = None, seed: int | None = None) -> QASet:
    """Read ``folder/qa.jsonl`` (or the ``.jsonl`` file itself when given one).

    Args:
        folder: a QA folder from ``shared/data`` or a ``qa.jsonl`` path.
        limit: keep this many questions: the first ones in file order, or with ``seed`` a
            reproducible sample, ``random.Random(seed).sample(in_file_order, limit)`` in the
            order it draws them. ``seed`` alone keeps every question in file order.

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
    if limit is not None:
        items = (random.Random(seed).sample(items, min(limit, len(items))) if seed is not None
                 else items[:limit])
        kept = {item.id for item in items}
        gold = {qid: answers for qid, answers in gold.items() if qid in kept}
        gold_docs = {qid: docs for qid, docs in gold_docs.items() if qid in kept}
    name = path.parent.name if path.name == "qa.jsonl" else path.stem
    return QASet(name, items, gold, gold_docs, _set_language(items))


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


def _set_language(items: Sequence[QAItem]) -> Language:
    chinese = sum(language_of(item.question) == "zh" for item in items)
    return "zh" if items and 2 * chinese >= len(items) else "en"


def _is_text_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# --- normalisation -------------------------------------------------------------------------


def language_of(text: str) -> Language:
    """``"zh"`` when the text holds any CJK ideograph, else ``"en"``.

    One ideograph is enough: a Chinese answer often carries Latin names or digits
    (``光荣和ω-force``), and the CMRC rule handles those runs as words anyway.
    """
    return "zh" if _HAS_CJK.search(text) else "en"


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 ``normalize_answer``: lowercase, no ASCII punctuation, no articles, single
    spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_chinese(text: str) -> str:
    """The CMRC 2018 tokens joined by single spaces: the string Chinese EM compares.

    The official EM compares the text itself with CMRC's punctuation list deleted; comparing
    the tokens instead also ignores spacing and other punctuation, so EM 1 implies F1 1.
    """
    return " ".join(chinese_tokens(text))


def chinese_tokens(text: str) -> list[str]:
    """CMRC 2018 ``mixed_segmentation`` with punctuation removed: lowercase, CMRC's joining
    marks deleted in place, then one token per CJK ideograph and one per word of the runs
    between them (English words, numbers), split at whitespace and other punctuation.

    The official script hands those runs to ``nltk.word_tokenize``, which splits punctuation
    off as tokens of its own but keeps ``3.8``, ``25,000`` and ``getchu.com`` whole;
    :func:`_split_words` does the same without needing nltk.
    """
    text = "".join(ch for ch in text.lower() if ch not in _CMRC_JOINERS)
    return [word for chunk in text.split() for piece in _CJK_TOKEN.findall(chunk)
            for word in _split_words(piece)]


def _split_words(run: str) -> list[str]:
    """Break at punctuation, except a dot inside a word or a comma inside a number."""
    words, start = [], 0
    for i, ch in enumerate(run):
        if _is_punctuation(ch) and not _joins(run, i):
            words.append(run[start:i])
            start = i + 1
    words.append(run[start:])
    return [word for word in words if word]


def _joins(run: str, i: int) -> bool:
    before, after = run[i - 1:i], run[i + 1:i + 2]
    if run[i] == ".":
        return before.isalnum() and after.isalnum()
    return run[i] == "," and before.isdigit() and after.isdigit()


def _is_punctuation(ch: str) -> bool:
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


# --- scores --------------------------------------------------------------------------------


def exact_match(prediction: str, golds: str | Sequence[str],
                language: Language | None = None) -> float:
    """1.0 when the normalised prediction equals some normalised gold answer, else 0.0."""
    return max((_exact_one(prediction, gold, language) for gold in _as_list(golds)),
               default=0.0)


def f1(prediction: str, golds: str | Sequence[str], language: Language | None = None) -> float:
    """Token F1 against the best gold answer, in 0..1 (0 for an empty prediction)."""
    return max((_f1_one(prediction, gold, language) for gold in _as_list(golds)), default=0.0)


def answer_in_context(context: str, golds: str | Sequence[str],
                      language: Language | None = None) -> bool:
    """Whether some gold answer occurs in the context, both normalised, on token boundaries.

    Measures whether retrieval handed the generator the answer at all, which bounds what the
    generator can score. Token boundaries keep gold ``1`` from matching inside ``1990``; the
    price is that 1% of SQuAD's gold answers are not found in their own paragraph (spans cut
    inside a word, ``gold`` from ``golden``, or ``Manning`` from ``Manning's``). CMRC's are all
    found.
    """
    haystacks: dict[Language, str] = {}  # the context normalised once per rule
    for gold in _as_list(golds):
        rule = language or _pair_language(context, gold)
        if rule not in haystacks:
            haystacks[rule] = f" {' '.join(_tokens(context, rule))} "
        needle = " ".join(_tokens(gold, rule))
        if needle and f" {needle} " in haystacks[rule]:
            return True
    return False


def _exact_one(prediction: str, gold: str, language: Language | None) -> float:
    rule = language or _pair_language(prediction, gold)
    normalise = normalize_chinese if rule == "zh" else normalize_answer
    return float(normalise(prediction) == normalise(gold))


def _f1_one(prediction: str, gold: str, language: Language | None) -> float:
    rule = language or _pair_language(prediction, gold)
    predicted, wanted = _tokens(prediction, rule), _tokens(gold, rule)
    same = (_longest_common_run(predicted, wanted) if rule == "zh"
            else sum((Counter(predicted) & Counter(wanted)).values()))
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def _tokens(text: str, rule: Language) -> list[str]:
    return chinese_tokens(text) if rule == "zh" else normalize_answer(text).split()


def _longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest contiguous run of tokens both share (CMRC's ``find_lcs``)."""
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def _pair_language(prediction: str, gold: str) -> Language:
    return "zh" if "zh" in (language_of(prediction), language_of(gold)) else "en"


def _as_list(golds: str | Sequence[str]) -> Sequence[str]:
    return [golds] if isinstance(golds, str) else golds


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
    )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None
