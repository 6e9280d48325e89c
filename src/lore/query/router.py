"""The rules ``auto`` routes by: a strategy per question from cheap signals in its text,
before any model call or retrieval (Adaptive-RAG's idea, with rules where it trains a
classifier; ``lore.query.classifier`` is the trained router): questions about the
collection's files go to ``sql``, questions whose answer needs a bridge between two facts to
``iterative``, the rest to ``single``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FILES = re.compile(r"\b(files?|documents?|docs|pdfs?|markdown|spreadsheets?|folders?|"
                    r"directories|directory|html pages|web pages)\b|文件|文档|PDF|pdf",
                    re.IGNORECASE)
_NAMED_FILE = re.compile(r"\b[\w\-]+\.(pdf|md|txt|py|go|rs|js|ts|java|html?|jsonl?|csv|docx?)"
                         r"\b.*\b(title|format|language|chunks|modified|changed|size|bytes|"
                         r"written in|hold|records)\b|\b(title|format|language|chunks|size)\b"
                         r".*\b[\w\-]+\.(pdf|md|txt|py|go|rs|js|ts|java|html?|jsonl?|csv|docx?)"
                         r"\b", re.IGNORECASE)
"""A file named by its name and an attribute of it ("the title of faq.html")."""
_ABOUT_FILES = re.compile(
    r"\b(how many|number of|count|list|largest|biggest|smallest|newest|oldest|latest|"
    r"most recent|added|indexed|modified|changed|updated|created|size|bytes|extension)\b|"
    r"\b(which|what)\s+(\w+\s+)?(files?|documents|pdfs|docs|notes)\s+"
    r"(are|were|did|do|have|has|in|mention|contain|deal|talk)\b|"
    r"多少|几个|几份|哪些|列出|最大|最小|最新|最近|添加|修改|更新|索引",
    re.IGNORECASE)
"""With a file noun, what makes a question one about the files: a count, a listing, a date,
a size, or "which files ..." (not "what document formed ...", about content)."""
_COMPARISON = re.compile(
    r"\b(both|same|either|neither)\b|\bor\b.*\?$|"
    r"\b(first|earlier|older|younger|larger|bigger|smaller|longer|shorter|taller|more|fewer|"
    r"higher|lower)\b.*\b(or|than)\b", re.IGNORECASE)
_BRIDGE = re.compile(r"\w\s+(who|whose|which|that|where|when)\s+\w", re.IGNORECASE)
_ROLE = re.compile(r"\b(the|a|an)\s+\w+\s+(of|behind)\s+(the\s+|a\s+)?\w", re.IGNORECASE)
"""Something named through its relation to another ("the author of the sweeper")."""
_ASKS_ROLE = re.compile(r"^\s*(what|who|which)\s+(is|was|are|were)\s*$", re.IGNORECASE)
"""...unless the question asks for that relation itself ("Who is the author of X?")."""


BRIDGE_WORDS = 12
"""A bridge needs room: shorter questions with a relative clause ("What is the name of the
river that ...") are mostly single-passage. Chosen on half of the HotpotQA and SQuAD
questions and confirmed on the other half (docs/query.md)."""


@dataclass(frozen=True, slots=True)
class Route:
    """The strategy chosen and why."""

    strategy: str
    reason: str


def route(question: str) -> Route:
    """The strategy for ``question`` from its words alone."""
    if (_FILES.search(question) and _ABOUT_FILES.search(question)) or \
            _NAMED_FILE.search(question):
        return Route("sql", "asks about the collection's files")
    if _COMPARISON.search(question.strip()):
        return Route("iterative", "compares two things: the facts sit in two passages")
    role = _ROLE.search(question)
    bridge = _BRIDGE.search(question) or (role and not _ASKS_ROLE.match(question[:role.start()]))
    if bridge and len(question.split()) >= BRIDGE_WORDS:
        return Route("iterative", "refers to something through another fact (a bridge)")
    return Route("single", "a direct question")
