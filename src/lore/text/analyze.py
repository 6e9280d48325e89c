"""Text analysis for BM25: the same function reads documents at index time and queries at
search time, so their terms meet.

Latin-script text is lower-cased, split on non-alphanumerics, stripped of English stopwords and
Snowball-stemmed (``caching`` and ``cached`` meet at ``cach``). Han characters are segmented into
words with jieba. Mixed text (``用 Python 写 cache``) gets both treatments, run by run.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import Stemmer

# NLTK's English stopword list, the one the BM25 reference used.
ENGLISH_STOPWORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
her hers herself it its itself they them their theirs themselves what which who whom this that
these those am is are was were be been being have has had having do does did doing a an the and
but if or because as until while of at by for with about against between into through during
before after above below to from up down in out on off over under again further then once here
there when where why how all any both each few more most other some such no nor not only own
same so than too very s t can will just don should now d ll m o re ve y ain aren couldn didn
doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn
""".split())

# Function words that carry no topic in Chinese; kept short on purpose.
CHINESE_STOPWORDS = frozenset("""
的 了 是 在 和 与 及 或 也 都 就 而 并 被 把 让 给 对 从 向 于 以 之 其 这 那 个 些 什么 吗 呢 吧 啊
""".split())

_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN = re.compile(f"[{_HAN_CLASS}]")
_WORDS = re.compile(r"[^\W_]+")
_RUNS = re.compile(f"([{_HAN_CLASS}]+)|([^\\W_]+)")
_MAX_TERM_CHARS = 64


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _jieba() -> Any:
    # Imported on first Chinese text only: loading its dictionary costs about a second.
    import jieba

    return jieba


def analyze(text: str) -> list[str]:
    """Terms of ``text`` for the full-text index, in order."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    if not _HAN.search(normalized):  # no Chinese, the common case: one regex, one stem call
        return _stem([w for w in _WORDS.findall(normalized)
                      if w not in ENGLISH_STOPWORDS and len(w) <= _MAX_TERM_CHARS])
    latin: list[str] = []
    terms: list[str] = []
    for han, word in _runs(normalized):
        if word:
            if word not in ENGLISH_STOPWORDS and len(word) <= _MAX_TERM_CHARS:
                latin.append(word)
            continue
        if latin:
            terms.extend(_stem(latin))
            latin = []
        terms.extend(w for w in _jieba().lcut(han) if w.strip() and w not in CHINESE_STOPWORDS)
    if latin:
        terms.extend(_stem(latin))
    return terms


def _stem(words: list[str]) -> list[str]:
    stems: list[str] = _stemmer().stemWords(words)
    return stems


def _runs(normalized: str) -> Iterator[tuple[str, str]]:
    for match in _RUNS.finditer(normalized):
        yield match.group(1) or "", match.group(2) or ""
