"""What a question names that the model's statement leaves out: a file type, a file name or
a year. A small model often drops one of a question's conditions ("how many markdown files
were changed in 2025" counted every file of 2025); the check finds such a gap without a
model, so that one retry can say what is missing.

The file types a question names are read against the formats the collection holds, where
the word stands before a noun for files ("PDF files", "Markdown 文件") or is a plural type
("PDFs"); a bare common word ("go", "text") is not taken for a type.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from lore.generate.protocol import Message

ALIASES = {"md": "markdown", "htm": "html", "txt": "text", "py": "python",
           "js": "javascript", "ts": "typescript", "rs": "rust"}
"""Short names people use for a format."""

_TYPED = re.compile(
    r"\b([A-Za-z][\w+#]*?)s?\s+(?:files?|pages?|notes?|documents?|reports?|scripts?|"
    r"sources?|programs?)\b|\b([A-Z][A-Za-z]*?)s\b|([A-Za-z][\w+#]*)\s*(?:文件|文档|笔记)")
_FILE_NAME = re.compile(r"[\w\-\u4e00-\u9fff]+\.[A-Za-z]\w{0,5}\b")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")


def named_formats(question: str, formats: Collection[str]) -> list[str]:
    """The collection's formats the question asks about by name, in order."""
    known = {f.lower() for f in formats}
    found: list[str] = []
    for match in _TYPED.finditer(question):
        word = next(group for group in match.groups() if group).lower()
        format_name = ALIASES.get(word, word)
        if format_name in known and format_name not in found:
            found.append(format_name)
    return found


def named_conditions(question: str, formats: Collection[str]) -> list[tuple[str, re.Pattern[str]]]:
    """The conditions the question names, each with a pattern a statement that uses it
    matches: a format, a file name, a year."""
    named = [(f"format = '{name}'", re.compile(rf"\b{re.escape(name)}\b"))
             for name in named_formats(question, formats)]
    named += [(f"name = '{name}'",
               re.compile(rf"\bname\s*(=|like|in)\s*\(?\s*'%?{re.escape(name.lower())}%?'"))
              for name in dict.fromkeys(_FILE_NAME.findall(question))]
    named += [(f"the year {year}", re.compile(year))
              for year in dict.fromkeys(_YEAR.findall(question))]
    return named


def missing_conditions(question: str, statement: str, formats: Collection[str]) -> list[str]:
    """What the question names that ``statement`` does not use, as conditions to tell the
    model: ``format = 'pdf'``, ``name = 'records.jsonl'``, ``the year 2025``."""
    written = statement.lower()
    return [condition for condition, used in named_conditions(question, formats)
            if not used.search(written)]


def retry_messages(messages: list[Message], reply: str, missing: list[str],
                   named: list[str]) -> list[Message]:
    """The conversation with the model's reply and a request to write it again, naming what
    it left out and every condition the question names (a small model told only of the
    missing one drops another)."""
    request = (f"The statement leaves out {'; '.join(missing)}. It must use all of: "
               f"{'; '.join(named)}. Write the SQL and SEARCH lines again.")
    return [*messages, Message("assistant", reply), Message("user", request)]
