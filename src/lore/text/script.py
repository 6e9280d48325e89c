"""Which script and language a text is written in: cheap counts, no model.

The indexer records each document's language, the embedder choice asks whether a corpus is
mostly outside the Latin script, and fusion asks the same of a query.
"""

from __future__ import annotations

import re

CJK_CLASS = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_CJK = re.compile(f"[{CJK_CLASS}]")
_LATIN = re.compile(r"[^\W\d_]", re.ASCII)
_LANGUAGE_SAMPLE = 2000
_CJK_SHARE = 0.3
"""Text is Chinese when at least this share of its letters are CJK ideographs. A Chinese
character carries about as much as an English word of five letters, so 0.3 already means the
text is mostly Chinese with English terms in it."""
NON_LATIN_SHARE = 0.2
"""Share of letters outside ASCII from which a text counts as mostly non-Latin. English prose
has almost none and French or German only their accented letters, while Chinese, Japanese,
Korean, Russian or Arabic prose is nearly all such letters, so a fifth of text in any of those
scripts already passes (docs/embedders.md)."""


def detect_language(text: str) -> str:
    """``"zh"`` when CJK ideographs dominate the letters of a sample of the text, else ``"en"``.

    Example:
        >>> detect_language("检索增强生成 (RAG) 把检索和生成结合起来")
        'zh'
    """
    sample = _sample(text)
    cjk = len(_CJK.findall(sample))
    if cjk == 0:
        return "en"
    latin = len(_LATIN.findall(sample))
    return "zh" if cjk / (cjk + latin) >= _CJK_SHARE else "en"


def _sample(text: str) -> str:
    """Start, middle and end of a long text: enough to judge, cheap on megabyte files."""
    if len(text) <= 3 * _LANGUAGE_SAMPLE:
        return text
    size = _LANGUAGE_SAMPLE
    middle = len(text) // 2 - size // 2
    return text[:size] + text[middle:middle + size] + text[-size:]


def non_latin_share(text: str) -> tuple[float, int]:
    """(share of letters that are not ASCII, number of letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0, 0
    return sum(1 for c in letters if not c.isascii()) / len(letters), len(letters)


def mostly_non_latin(text: str) -> bool:
    """Whether ``text`` is mostly written outside the Latin script (``NON_LATIN_SHARE``)."""
    share, letters = non_latin_share(text)
    return letters > 0 and share >= NON_LATIN_SHARE
