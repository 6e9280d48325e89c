"""HTML: the main text of a page, its heading trail, and one block per paragraph-like element.

Navigation, scripts, forms and page chrome are dropped; ``<main>`` (or a lone ``<article>``)
is preferred when the page has one. ``Document.text`` is the extracted text, its blocks joined
by blank lines, so every span indexes the text that search reads, not the markup.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import lxml.html
from lxml import etree

from lore.errors import IngestError
from lore.ingest.normalize import SNIFF_BYTES, decode_text, normalize_text
from lore.text.script import detect_language
from lore.types import Block, Document

_JUNK = frozenset({
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg",
    "template", "iframe", "button", "select", "canvas", "object", "embed", "head",
})
_JUNK_ROLES = frozenset({"navigation", "banner", "contentinfo"})
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_BLOCKS = frozenset({
    "html", "body", "main", "article", "section", "div", "p", "ul", "ol", "li", "dl", "dt", "dd",
    "table", "thead", "tbody", "tfoot", "caption", "figure", "figcaption", "address", "details",
    "summary", "center", "fieldset", "hr", "td", "th",
})
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class _Heading:
    id: int
    level: int
    title: str


@dataclass
class _Extract:
    """Accumulates blocks while the tree is walked (mutable, private to one parse)."""

    blocks: list[tuple[str, tuple[_Heading, ...]]] = field(default_factory=list)
    trail: list[_Heading] = field(default_factory=list)
    inline: list[str] = field(default_factory=list)
    pending: _Heading | None = None
    headings: int = 0

    def heading(self, level: int, title: str) -> None:
        self.flush()
        while self.trail and self.trail[-1].level >= level:
            self.trail.pop()
        self.headings += 1
        heading = _Heading(self.headings, level, title)
        self.trail.append(heading)
        self.pending = heading if title else None

    def add(self, text: str) -> None:
        if not text.strip():
            return
        if self.pending is not None:
            self.blocks.append((self.pending.title, tuple(self.trail)))
            self.pending = None
        self.blocks.append((text, tuple(self.trail)))

    def flush(self) -> None:
        self.add(_collapse("".join(self.inline)))
        self.inline.clear()


def parse_html(path: Path, data: bytes, mtime: float) -> list[Document]:
    """Parse an HTML page into one document of its main text.

    The title is ``<title>``, else the first ``<h1>``, else the file name. Blocks are
    paragraphs, list items, ``<pre>``, table rows (cells joined by `` | ``) and blockquotes.

    Raises:
        IngestError: the file is binary, badly encoded, or not HTML lxml can read.

    Example:
        >>> doc, = parse_html(Path("/p.html"), b"<h1>Guide</h1><nav>Home</nav><p>Hi.</p>", 0.0)
        >>> doc.text
        'Guide\\n\\nHi.'
    """
    source = _XML_DECLARATION.sub("", _decode(path, data))
    if not source.strip():
        return [_document(path, mtime, path.name, [])]
    try:
        tree = lxml.html.document_fromstring(source)
    except (etree.ParserError, ValueError) as exc:
        raise IngestError(str(path), f"cannot parse HTML ({exc})") from None
    title = _title(tree) or path.name
    extract = _Extract()
    _walk(_content_root(tree), extract, in_article=False)
    extract.flush()
    return [_document(path, mtime, title, extract.blocks)]


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 unless a ``<meta charset>`` near the top names another encoding."""
    declared = _META_CHARSET.search(data[:SNIFF_BYTES])
    if declared is None or data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
                                            codecs.BOM_UTF16_BE)):
        return decode_text(path, data)
    try:
        encoding = codecs.lookup(declared.group(1).decode("ascii")).name
    except LookupError:
        return decode_text(path, data)
    if encoding == "utf-8" or b"\x00" in data[:SNIFF_BYTES]:
        return decode_text(path, data)
    try:
        return normalize_text(data.decode(encoding))
    except UnicodeDecodeError as exc:
        raise IngestError(str(path), f"not valid {encoding} as its <meta charset> says "
                          f"(byte at offset {exc.start}); fix the declaration") from None


def _title(tree: lxml.html.HtmlElement) -> str:
    for element in (tree.find(".//title"), tree.find(".//h1")):
        if element is not None and (text := _collapse(element.text_content())):
            return text
    return ""


def _content_root(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    main = tree.find(".//main")
    if main is None:
        main = next(iter(tree.xpath(".//*[@role='main']")), None)
    articles = tree.findall(".//article")
    if main is None and len(articles) == 1:
        main = articles[0]
    return main if main is not None else tree


def _is_junk(element: lxml.html.HtmlElement, in_article: bool) -> bool:
    tag = element.tag
    if tag == "header" and in_article:
        return False
    return (tag in _JUNK or element.get("role", "") in _JUNK_ROLES
            or element.get("hidden") is not None)


def _walk(element: lxml.html.HtmlElement, extract: _Extract, in_article: bool) -> None:
    """Flow text into ``extract``: block elements flush around themselves, inline ones add."""
    tag = element.tag
    if tag in _HEADINGS:
        extract.heading(_HEADINGS[tag], _collapse(_inline_text(element, in_article)))
    elif tag == "pre":
        extract.flush()
        extract.add(normalize_text(_inline_text(element, in_article)).strip("\n"))
    elif tag == "tr":
        extract.flush()
        cells = (_inline_text(cell, in_article) for cell in element if cell.tag in ("td", "th"))
        extract.add(" | ".join(text for text in map(_collapse, cells) if text))
    elif tag == "br":
        extract.inline.append("\n")
    elif tag == "blockquote":
        extract.flush()
        extract.add(_collapse(_inline_text(element, in_article)))
    else:
        _walk_children(element, extract, in_article or tag == "article")


def _walk_children(element: lxml.html.HtmlElement, extract: _Extract, in_article: bool) -> None:
    block = element.tag in _BLOCKS
    if block:
        extract.flush()
    extract.inline.append(element.text or "")
    for child in element:
        if isinstance(child.tag, str) and not _is_junk(child, in_article):
            _walk(child, extract, in_article)
        extract.inline.append(child.tail or "")
    if block:
        extract.flush()


def _inline_text(element: lxml.html.HtmlElement, in_article: bool) -> str:
    """All text inside ``element``, leaving out junk descendants and comments."""
    parts = [element.text or ""]
    for child in element:
        if isinstance(child.tag, str) and not _is_junk(child, in_article):
            parts.append(_inline_text(child, in_article))
            if child.tag in _BLOCKS or child.tag in _HEADINGS or child.tag == "br":
                parts.append(" ")
        parts.append(child.tail or "")
    return "".join(parts)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _document(path: Path, mtime: float, title: str,
              extracted: list[tuple[str, tuple[_Heading, ...]]]) -> Document:
    text = _SEPARATOR.join(block for block, _ in extracted)
    spans = list(_offsets(block for block, _ in extracted))
    parents = _section_spans(spans, [trail for _, trail in extracted])
    blocks = tuple(
        Block(block, start, end, section=tuple(h.title for h in trail if h.title),
              parent=parents.get(trail[-1].id) if trail else None)
        for (block, trail), (start, end) in zip(extracted, spans, strict=True)
    )
    return Document(path=str(path), text=text, title=title, format="html",
                    language=detect_language(text), mtime=mtime, blocks=blocks)


def _offsets(blocks: Iterator[str]) -> Iterator[tuple[int, int]]:
    position = 0
    for block in blocks:
        yield position, position + len(block)
        position += len(block) + len(_SEPARATOR)


def _section_spans(spans: list[tuple[int, int]],
                   trails: list[tuple[_Heading, ...]]) -> dict[int, tuple[int, int]]:
    """Each heading's section: from its first block to the last block under it."""
    sections: dict[int, tuple[int, int]] = {}
    for (start, end), trail in zip(spans, trails, strict=True):
        for heading in trail:
            first = sections.get(heading.id, (start, end))[0]
            sections[heading.id] = (first, end)
    return sections
