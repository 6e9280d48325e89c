"""Markdown: headings become the section trail, fenced code stays whole, front matter is read.

The parser is a line scanner over the normalised text, so every block's span points straight
into ``Document.text``. It understands ATX (``## Title``) and Setext (underlined) headings,
backtick and tilde fences (an unclosed fence runs to the end, as in CommonMark), thematic
breaks and a YAML front matter block whose ``title:`` names the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lore.ingest.normalize import decode_text
from lore.text.script import detect_language
from lore.types import Block, Document

_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")
_THEMATIC = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True, slots=True)
class _Heading:
    level: int
    title: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int


def parse_markdown(path: Path, data: bytes, mtime: float) -> list[Document]:
    """Parse a Markdown file into one document with heading-aware blocks.

    The title is the front matter ``title:``, else the first level-1 heading, else the file
    name. A heading is kept as a block of its own section when text follows it directly.

    Example:
        >>> doc, = parse_markdown(Path("/d/a.md"), b"# Guide\\n\\n## Install\\n\\nRun it.", 0.0)
        >>> [(block.text, block.section) for block in doc.blocks]
        [('## Install', ('Guide', 'Install')), ('Run it.', ('Guide', 'Install'))]
    """
    text = decode_text(path, data)
    body, front_title = _front_matter(text)
    events = list(_scan(text, body))
    headings = [event for event in events if isinstance(event, _Heading)]
    h1 = next((h.title for h in headings if h.level == 1 and h.title), "")
    return [Document(
        path=str(path), text=text, title=front_title or h1 or path.name, format="markdown",
        language=detect_language(text), mtime=mtime, blocks=tuple(_blocks(text, events)),
    )]


def _front_matter(text: str) -> tuple[int, str]:
    """Where the body starts, and the front matter's title (empty when there is none)."""
    if not text.startswith("---\n"):
        return 0, ""
    end = _FRONT_MATTER_END.search(text, 4)
    if end is None:
        return 0, ""
    match = _FRONT_TITLE.search(text, 4, end.start())
    title = match.group(1).strip("\"'") if match else ""
    return end.end(), title


def _lines(text: str, start: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each line from offset ``start``, newline excluded."""
    while start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        yield start, end
        start = end + 1


def _scan(text: str, body: int) -> Iterator[_Heading | _Span]:
    """Headings and blocks (paragraphs, whole fences) in document order."""
    paragraph: list[tuple[int, int]] = []
    fence: tuple[str, int] | None = None
    for start, end in _lines(text, body):
        line = text[start:end]
        if fence is not None:
            if _closes(line, fence[0]):
                yield _Span(fence[1], end)
                fence = None
            continue
        opener = _FENCE.match(line)
        setext = _SETEXT.match(line) if paragraph else None
        if opener or not line.strip() or _ATX.match(line) or setext or _THEMATIC.match(line):
            if setext:
                yield _setext(text, paragraph, end, setext.group(1))
            elif paragraph:
                yield _Span(paragraph[0][0], paragraph[-1][1])
            paragraph = []
            if opener:
                fence = (opener.group(1), start)
            elif atx := _ATX.match(line):
                yield _Heading(len(atx.group(1)), _clean(atx.group(2) or ""), start, end)
            continue
        paragraph.append((start, end))
    if fence is not None:
        yield _Span(fence[1], len(text))
    elif paragraph:
        yield _Span(paragraph[0][0], paragraph[-1][1])


def _closes(line: str, opener: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(opener) and not stripped.strip(opener[0])


def _setext(text: str, paragraph: list[tuple[int, int]], end: int, underline: str) -> _Heading:
    title = " ".join(text[a:b].strip() for a, b in paragraph)
    return _Heading(1 if underline[0] == "=" else 2, _clean(title), paragraph[0][0], end)


def _clean(title: str) -> str:
    """Heading text without link targets, backticks or emphasis stars."""
    return _LINK.sub(r"\1", title).replace("`", "").replace("*", "").strip()


def _blocks(text: str, events: list[_Heading | _Span]) -> Iterator[Block]:
    """Blocks with their heading trail and the span of their innermost section."""
    spans = _section_spans(text, [event for event in events if isinstance(event, _Heading)])
    trail: list[_Heading] = []
    pending: _Heading | None = None
    for event in events:
        if isinstance(event, _Heading):
            while trail and trail[-1].level >= event.level:
                trail.pop()
            trail.append(event)
            pending = event
            continue
        section = tuple(heading.title for heading in trail if heading.title)
        parent = spans[trail[-1].start] if trail else None
        if pending is not None:
            yield Block(text[pending.start:pending.end], pending.start, pending.end,
                        section=section, parent=parent)
            pending = None
        start = event.start
        while text[start].isspace():
            start += 1
        yield Block(text[start:event.end], start, event.end, section=section, parent=parent)


def _section_spans(text: str, headings: list[_Heading]) -> dict[int, tuple[int, int]]:
    """Each heading's section, keyed by its start: up to the next heading of its level or higher."""
    spans: dict[int, tuple[int, int]] = {}
    open_: list[_Heading] = []
    for heading in [*headings, _Heading(0, "", len(text), len(text))]:
        while open_ and open_[-1].level >= heading.level:
            closed = open_.pop()
            end = heading.start
            while end > closed.start and text[end - 1].isspace():
                end -= 1
            spans[closed.start] = (closed.start, end)
        open_.append(heading)
    return spans
