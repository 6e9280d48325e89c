"""Concepts in text without a language model: the noun phrases a concept graph links
(LazyGraphRAG's index is noun phrases and their co-occurrence, at the cost of a vector index).

- English: the part-of-speech tagger and phrase chunker bundled in TextBlob (pattern's Brill
  tagger, whose lexicon ships in the wheel: nothing is downloaded). A noun phrase, less its
  determiners, pronouns and numbers at either end, is kept when it holds a proper noun, has
  several words, or is a hyphenated compound, as LazyGraphRAG's extractor keeps them; a
  single common noun ("minute") is too general to link anything. Proper phrases joined by
  "of" become one ("University of Oslo").
- Chinese: jieba's part-of-speech tagger. Proper nouns (people, places, organisations) are
  kept alone; runs of common nouns are kept as the compound they form ("缓存条目").

Concepts are lower-cased so that one concept is one node whatever its case.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from functools import lru_cache
from typing import Any

from lore.text.analyze import ENGLISH_STOPWORDS
from lore.text.script import CJK_CLASS

MAX_WORD_CHARS = 15
"""A longer token is an identifier or noise, not a word of a concept (LazyGraphRAG's limit)."""
MAX_PHRASE_WORDS = 5
"""A longer chunk is the tagger running phrases together."""

_HAN = re.compile(f"[{CJK_CLASS}]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_EDGE_TAGS = frozenset({"DT", "PDT", "PRP", "PRP$", "WDT", "WP", "WP$", "POS", "CD", "EX",
                        "CC", "IN", "TO", "RB", "LS", "SYM"})
"""Tags stripped from a phrase's ends ("the", "their", "two")."""
_KEPT_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS", "JJ", "JJR", "JJS", "VBG", "VBN", "FW",
                        "CD", "POS"})
"""Tags a phrase may hold inside (a number inside a name: "Super Bowl 50")."""
_PROPER = frozenset({"NNP", "NNPS"})
_CALENDAR = frozenset({"january", "february", "march", "april", "may", "june", "july",
                       "august", "september", "october", "november", "december", "monday",
                       "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})
"""Proper nouns that name a date, not a subject: alone, they would link every chunk dated in
the same month."""
_CHINESE_PROPER = frozenset({"nr", "nrt", "nrfg", "ns", "nt", "nz"})
_CHINESE_COMMON = frozenset({"n", "vn", "ng"})
_WORD = re.compile(r"\w")
_INNER_CAPITAL = re.compile(r"^.+[A-Z]")
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")


def concepts(text: str) -> list[str]:
    """The concepts of ``text``, lower-cased, each once, in order of first mention.

    Example:
        >>> concepts("Ada Park studied chemistry at the University of Oslo.")
        ['ada park', 'university of oslo']
    """
    found = _chinese(text) if _mostly_chinese(text) else _english(text)
    return list(dict.fromkeys(found))


def _mostly_chinese(text: str) -> bool:
    """Chinese when it holds at least as many Han characters as Latin words: an English
    paragraph that gives a name in Chinese (``Marquess Jing of Han (韓景侯)``) stays English,
    as jieba's tagger reads English words poorly."""
    han = len(_HAN.findall(text))
    return han > 0 and han >= len(_LATIN_WORD.findall(text))


def _english(text: str) -> list[str]:
    found: list[str] = []
    for sentence in _tagged(text):
        phrases = _noun_phrases(sentence)
        found.extend(_joined(phrases, sentence))
    return found


def _tagged(text: str) -> list[list[tuple[str, str, str]]]:
    """Sentences of (word, tag, chunk) from the bundled chunker."""
    spaced = _POSSESSIVE.sub(" 's", text)  # the tokenizer splits "Levi's" into three
    parsed = str(_parser()(spaced, tokenize=True, tags=True, chunks=True, relations=False,
                           lemmata=False))
    sentences = []
    for line in parsed.split("\n"):
        tokens = []
        for token in line.split(" "):
            parts = token.split("/")
            if len(parts) >= 3:
                tokens.append((parts[0].replace("&slash;", "/"), parts[1], parts[2]))
        sentences.append(tokens)
    return sentences


def _noun_phrases(sentence: list[tuple[str, str, str]]) -> list[tuple[int, int]]:
    """(start, end) token spans of the noun-phrase chunks, split where a token cannot be
    part of a concept and trimmed at both ends."""
    spans: list[tuple[int, int]] = []
    start = None
    for at, (_, _, chunk) in enumerate([*sentence, ("", "", "O")]):
        if start is not None and chunk != "I-NP":
            spans.extend(_split(sentence, start, at))
            start = None
        if chunk == "B-NP":
            start = at
    return [(a, b) for a, b in spans if a < b]


def _split(sentence: list[tuple[str, str, str]], start: int, end: int
           ) -> list[tuple[int, int]]:
    """The chunk cut at its determiners ("cache entries every minute") and at a verb the
    tagger took for a plural noun ("PostgreSQL stores vectors")."""
    cuts = [at for at in range(start, end)
            if (sentence[at][1] not in _KEPT_TAGS and sentence[at][0].lower() != "of")
            or _hidden_verb(sentence, at, start, end)]
    bounds = [start - 1, *cuts, end]
    return [_trimmed(sentence, a + 1, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def _hidden_verb(sentence: list[tuple[str, str, str]], at: int, start: int, end: int) -> bool:
    """Whether a token tagged as a noun is the sentence's verb: pattern's tagger reads "X
    stores Y" as three nouns. A plural noun between nouns, or ending its chunk right before
    a determiner ("need a reminder") or after a capitalised name ("Amazon River flows"),
    is taken for a verb."""
    word, tag, _ = sentence[at]
    if tag not in ("NNS", "NN") or not word.endswith(("s", "d")) or word[:1].isupper():
        return False
    before = sentence[at - 1][1] if at > start else ""
    if not before.startswith("NN"):
        return False
    if at + 1 < end:
        return tag == "NNS" and sentence[at + 1][1].startswith(("NN", "JJ"))
    following = sentence[at + 1][1] if at + 1 < len(sentence) else ""
    return following in ("DT", "PRP$", "PDT") or (
        before in _PROPER and tag == "NNS" and sentence[at - 1][0][:1].isupper())


def _trimmed(sentence: list[tuple[str, str, str]], start: int, end: int) -> tuple[int, int]:
    while start < end and (sentence[start][1] in _EDGE_TAGS
                           or sentence[start][0].lower() in ENGLISH_STOPWORDS):
        start += 1
    while end > start and (sentence[end - 1][1] in _EDGE_TAGS - {"CD"}
                           or sentence[end - 1][0].lower() in ENGLISH_STOPWORDS):
        end -= 1
    return start, end


def _joined(spans: list[tuple[int, int]], sentence: list[tuple[str, str, str]]) -> list[str]:
    """The kept phrases; two proper phrases with "of" between them are one."""
    kept: list[str] = []
    index = 0
    while index < len(spans):
        start, end = spans[index]
        following = spans[index + 1] if index + 1 < len(spans) else None
        if (following and following[0] == end + 1 and sentence[end][0].lower() == "of"
                and _proper(sentence, start, end) and _proper(sentence, *following)):
            end = following[1]
            index += 1
        phrase = _phrase(sentence, start, end)
        if phrase:
            kept.append(phrase)
        index += 1
    return kept


def _proper(sentence: list[tuple[str, str, str]], start: int, end: int) -> bool:
    """Whether the span holds a proper noun: tagged so, or a name the lexicon does not know
    ("PostgreSQL", "HNSW": a capital after the first letter, or a capital past the
    sentence's first word)."""
    return any(tag in _PROPER or (tag.startswith("NN") and (_INNER_CAPITAL.search(word)
                                                            or (at > 0 and word[:1].isupper())))
               for at, (word, tag, _) in enumerate(sentence[start:end], start=start))


def _phrase(sentence: list[tuple[str, str, str]], start: int, end: int) -> str | None:
    """The span as a concept, or None when LazyGraphRAG's rules drop it."""
    words = sentence[start:end]
    if len(words) > MAX_PHRASE_WORDS or any(tag not in _KEPT_TAGS and word.lower() != "of"
                                            for word, tag, _ in words):
        return None
    if any(len(word) > MAX_WORD_CHARS or not _WORD.search(word) for word, _, _ in words):
        return None
    if all(len(word) < 2 or word.lower() in _CALENDAR for word, _, _ in words):
        return None
    text = " ".join(word for word, _, _ in words).replace(" 's", "'s").lower()
    if not (_proper(sentence, start, end) or len(words) > 1 or "-" in text):
        return None
    return text


def _chinese(text: str) -> list[str]:
    found: list[str] = []
    run: list[str] = []
    for word, flag in _posseg().lcut(text):
        if flag in _CHINESE_COMMON and _HAN.search(word):
            run.append(word)
            continue
        found.extend(_compound(run))
        run = []
        proper = flag in _CHINESE_PROPER and len(word) >= 2
        named = flag == "eng" and word[:1].isupper() and len(word) <= MAX_WORD_CHARS
        if proper or named:  # a Chinese name, or a capitalised English word among Chinese
            found.append(word.lower())
    found.extend(_compound(run))
    return found


def _compound(run: list[str]) -> list[str]:
    """A run of common nouns as one concept, when it is two characters or more."""
    joined = "".join(run)
    return [joined] if len(joined) >= 2 else []


@lru_cache(maxsize=1)
def _parser() -> Any:
    """TextBlob's English tagger, imported on first use (it loads its lexicon, about 0.4 s).

    ``textblob/__init__`` imports nltk, and nltk scikit-learn and pandas: about 170 MB of
    resident memory that the tagger (``textblob.en``, ``textblob._text``) never uses. Unless
    the package is already imported, its modules are found through a bare stand-in for it,
    which leaves afterwards, so a later ``import textblob`` gets the whole package."""
    if "textblob" in sys.modules:
        from textblob.en import parse

        return parse
    spec = importlib.util.find_spec("textblob")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("textblob is not installed: pip install textblob")
    stand_in = types.ModuleType("textblob")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["textblob"] = stand_in
    try:
        from textblob.en import parse
    finally:
        del sys.modules["textblob"]
    return parse


@lru_cache(maxsize=1)
def _posseg() -> Any:
    import jieba.posseg

    return jieba.posseg
