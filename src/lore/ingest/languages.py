"""Which programming language a piece of source code is in: by file suffix, or by its opening.

A file's suffix names its language (:data:`LANGUAGE_BY_SUFFIX`, which also decides which files
the parser registry reads as code). Code that arrives without a file name, such as a corpus
record holding one function, is recognised by how it opens (:func:`sniff_language`). Kept apart
from the parsing itself because the registry and the JSONL reader ask only this question.
"""

from __future__ import annotations

import re

__all__ = ["LANGUAGE_BY_SUFFIX", "sniff_language"]

LANGUAGE_BY_SUFFIX: dict[str, str] = {
    **dict.fromkeys([".py", ".pyi"], "python"),
    **dict.fromkeys([".js", ".mjs", ".cjs", ".jsx"], "javascript"),
    **dict.fromkeys([".ts", ".mts", ".cts"], "typescript"),
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    **dict.fromkeys([".c", ".h"], "c"),
    **dict.fromkeys([".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx"], "cpp"),
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    **dict.fromkeys([".kt", ".kts"], "kotlin"),
}
"""File suffix (lower case, with the dot) -> language name; ``Document.language`` for code."""

_OPENINGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("python", re.compile(r"(?:@[\w.]+.*\n)*(?:async\s+)?(?:def|class)\s+\w+\s*[(:]")),
    ("go", re.compile(r"func\s+(?:\([^)]*\)\s*)?\w+\s*\(")),
    ("rust", re.compile(r"(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+\w+\s*[<(]")),
    ("javascript", re.compile(r"(?:export\s+)?(?:async\s+)?function\s*\*?\s*\w+\s*\(")),
)
"""How a snippet holding one definition opens, by language; checked in this order."""


def sniff_language(text: str) -> str | None:
    """The language of a snippet that opens with a function or class definition, else None.

    For code that arrives without a file name, such as a corpus record holding one function.
    Only openings that prose never starts with are recognised (Python, Go, Rust, JavaScript).

    >>> sniff_language("def paste(xsel=False):\\n    return xsel"), sniff_language("Define it.")
    ('python', None)
    """
    head = text.lstrip()[:500]
    for language, opening in _OPENINGS:
        if opening.match(head):
            return language
    return None
