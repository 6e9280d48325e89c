"""How one predicted answer scores against gold answers: exact match, token F1 and
answer-in-context, by the official SQuAD v1.1 and CMRC 2018 rules.

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
pass :attr:`lore.eval.qa.QASet.language` to score a whole set by its official script, since
about 2% of CMRC's gold answers hold no ideograph (``Henry A. Walsh``, ``《Introduction》``) and
the English rule would keep the ``《》`` and drop the articles. Every score is in 0..1, the best
over the gold answers; reports multiply by 100.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Literal

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
