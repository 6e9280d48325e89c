"""The text that search reads for a chunk: its *view*.

Prose is read with its context (document title and heading trail), so a paragraph under
"Install > Windows" matches a question about installing on Windows. Code is read through a
natural-language description first (qualified name split into words, signature, docstring,
comments, file path), then the code itself, so an English question can find a function.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from lore.config import CodeView
from lore.types import Symbol

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9A-Za-z]+")


def split_identifier(name: str) -> list[str]:
    """``HTTPServer.get_user_id`` -> ``["http", "server", "get", "user", "id"]``."""
    words: list[str] = []
    for part in _NON_WORD.split(name):
        words.extend(w.lower() for w in _CAMEL_BOUNDARY.split(part) if w)
    return words


def prose_view(text: str, title: str = "", section: tuple[str, ...] = ()) -> str:
    """Title and heading trail on the first line, then the text.

    The title stays even when the text repeats it: for BM25 the repetition is the signal that
    the passage is *about* it. It raised lexical nDCG@10 on HotpotQA, where each paragraph
    opens with its article's name (``lore eval retrieval`` in lexical mode; docs/indexing.md).
    """
    deduped = list(dict.fromkeys(part for part in (title, *section) if part))
    return f"{' > '.join(deduped)}\n{text}" if deduped else text


def code_description(symbol: Symbol, path: str, language: str, code: str = "") -> str:
    """A natural-language description of a code symbol, built by program analysis alone.

    The docstring and comments are left out when ``code`` already contains them, so a view
    does not spend its token budget twice; a later piece of a split function, which lacks
    them, gets the docstring's summary instead.
    """
    words = " ".join(split_identifier(symbol.name))
    lines = [f"{language} {symbol.kind} {symbol.name}: {words}".strip()]
    if symbol.signature and symbol.signature not in code:
        lines.append(symbol.signature)
    if symbol.docstring and symbol.docstring[:60] not in code:
        lines.append(_summary(symbol.docstring))
    if symbol.comments and symbol.comments[:60] not in code:
        lines.append(_summary(symbol.comments))
    if path:
        pure = PurePath(path)
        lines.append(f"file {'/'.join(pure.parts[-3:])}: {' '.join(split_identifier(pure.stem))}")
    return "\n".join(lines)


def code_view(code: str, symbol: Symbol | None, path: str, language: str,
              style: CodeView = "both") -> str:
    """Description first, code after (``both``): the embedder and BM25 read the whole view.

    ``description`` or ``code`` alone are there to measure against: ``benchmarks/code_view.py``
    scores each view on CoSQA, where ``both`` wins in every mode (docs/indexing.md).
    """
    if style == "code":
        return code
    if symbol is None:
        pure = PurePath(path)
        heading = f"{language} file {'/'.join(pure.parts[-3:])}" if path else language
        return heading if style == "description" else f"{heading}\n{code}"
    description = code_description(symbol, path, language, "" if style == "description" else code)
    return description if style == "description" else f"{description}\n{code}"


def _summary(text: str, limit: int = 200) -> str:
    """The first paragraph, cut at a word boundary near ``limit`` characters."""
    first = text.strip().split("\n\n", 1)[0]
    return first if len(first) <= limit else first[:limit].rsplit(" ", 1)[0] + " …"
