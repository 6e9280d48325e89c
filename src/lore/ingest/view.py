"""The text that search reads for a chunk: its *view*.

Prose is read with its context (document title and heading trail), so a paragraph under
"Install > Windows" matches a question about installing on Windows. Code is read through a
natural-language description first (qualified name split into words, signature, docstring,
comments, file path), then the code itself, so an English question can find a function.
"""

from __future__ import annotations

import re
from pathlib import PurePath

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
    """Title and heading trail on the first line, then the text; repeats are left out."""
    context = [part for part in (title, *section) if part and part not in text[:200]]
    deduped = list(dict.fromkeys(context))
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
    pure = PurePath(path)
    lines.append(f"file {'/'.join(pure.parts[-3:])}: {' '.join(split_identifier(pure.stem))}")
    return "\n".join(lines)


def code_view(code: str, symbol: Symbol | None, path: str, language: str) -> str:
    """Description first, code after: both the embedder and BM25 read the whole view."""
    if symbol is None:
        pure = PurePath(path)
        return f"{language} file {'/'.join(pure.parts[-3:])}\n{code}"
    return f"{code_description(symbol, path, language, code)}\n{code}"


def _summary(text: str, limit: int = 200) -> str:
    """The first paragraph, cut at a word boundary near ``limit`` characters."""
    first = text.strip().split("\n\n", 1)[0]
    return first if len(first) <= limit else first[:limit].rsplit(" ", 1)[0] + " …"
