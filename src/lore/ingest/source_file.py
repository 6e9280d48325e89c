"""One source file parsed by tree-sitter: its bytes, line starts and comments, and the byte-level
questions the symbol extractor (:mod:`lore.ingest.code`) asks of them.

tree-sitter counts bytes, blocks count characters, and deciding where a symbol's block starts
or ends means looking at whole lines and at the comments around a node. Those questions (where
does this line start, which comments sit directly above this node, is this gap only closing
braces) are kept here, apart from the decisions about symbols that use them, together with the
one conversion from byte offsets to character offsets.
"""

from __future__ import annotations

import inspect
import re
import threading
from bisect import bisect_left, bisect_right

from tree_sitter import Node, Parser, Query, QueryCursor
from tree_sitter_language_pack import get_language, get_parser

from lore.ingest.grammars import Grammar, node_text

_PUNCTUATION = re.compile(rb"[{}()\[\];,]+")
_LINE_MARK = re.compile(r"^(?://+!?|#+!?|\*+)\s?")

_LOCAL = threading.local()
_QUERIES: dict[str, Query] = {}
_QUERIES_LOCK = threading.Lock()


def _parser(g: Grammar) -> Parser:
    """One parser per language per thread: tree-sitter parsers are not thread-safe."""
    parsers: dict[str, Parser] | None = getattr(_LOCAL, "parsers", None)
    if parsers is None:
        parsers = _LOCAL.parsers = {}
    if g.grammar not in parsers:
        parsers[g.grammar] = get_parser(g.grammar)
    return parsers[g.grammar]


def _comment_query(g: Grammar) -> Query:
    with _QUERIES_LOCK:
        if g.grammar not in _QUERIES:
            source = " ".join(f"({name}) @comment" for name in sorted(g.comments))
            _QUERIES[g.grammar] = Query(get_language(g.grammar), source)
        return _QUERIES[g.grammar]


def _clean_comment(raw: str) -> str:
    """Strip comment markers (``//``, ``///``, ``#``, ``/** */``, leading ``*``)."""
    body = raw.strip()
    if body.startswith("/*"):
        body = body[2:].lstrip("*!").removesuffix("*/")
    lines = [_LINE_MARK.sub("", line.strip(), count=1) for line in body.splitlines()]
    return inspect.cleandoc("\n".join(lines))


class SourceFile:
    """The text of one file, its UTF-8 bytes, its syntax tree and its comments, in byte order."""

    def __init__(self, g: Grammar, text: str) -> None:
        self.g, self.text = g, text
        self.data = text.encode("utf-8", "surrogatepass")
        self.lines = [0, *(m.end() for m in re.finditer(b"\n", self.data))]
        self.char_lines = [0, *(m.end() for m in re.finditer("\n", text))]
        self.root = _parser(g).parse(self.data).root_node
        captured = QueryCursor(_comment_query(g)).captures(self.root).get("comment", [])
        self.comments = sorted(captured, key=lambda n: n.start_byte)
        self.c_starts = [c.start_byte for c in self.comments]
        self.c_ends = [c.end_byte for c in self.comments]

    def line(self, pos: int) -> int:
        return bisect_right(self.lines, pos) - 1

    def line_start(self, pos: int, floor: int = 0) -> int:
        """The start of ``pos``'s line when only indentation precedes it there, else ``pos``."""
        start = self.lines[self.line(pos)]
        return start if start >= floor and not self.data[start:pos].strip() else pos

    def starts_line(self, pos: int) -> bool:
        return self.lines[self.line(pos)] == pos

    def adjacent(self, end: int, start: int) -> bool:
        """Only whitespace, and no blank line, between ``end`` and ``start``."""
        gap_is_blank = not self.data[end:start].strip()
        return gap_is_blank and self.line(start) - self.line(max(end - 1, 0)) <= 1

    def leading(self, node: Node) -> int:
        """Where ``node`` starts with the comments and attributes directly above it."""
        start = node.start_byte
        prev = node.prev_named_sibling
        while True:
            while prev is not None and (prev.end_byte > start or prev.type in self.g.comments):
                prev = prev.prev_named_sibling
            if prev is not None and prev.type in self.g.prefixes and self.adjacent(
                prev.end_byte, start
            ):
                start = prev.start_byte
                continue
            i = bisect_right(self.c_ends, start) - 1
            floor = 0 if prev is None else prev.end_byte  # not a comment inside the code above
            if prev is not None and prev.type in self.g.leaky:
                floor = prev.start_byte
            if i < 0 or self.c_starts[i] < floor or not self.adjacent(self.c_ends[i], start):
                break
            if not self.starts_line(self.line_start(self.c_starts[i])):
                break  # a trailing comment of the code above
            start = self.c_starts[i]
        return self.line_start(start)

    def comment_range(self, start: int, end: int) -> range:
        """Indices into ``comments`` of the comments that start in ``[start, end)``."""
        return range(bisect_left(self.c_starts, start), bisect_left(self.c_starts, end))

    def comment_text(self, start: int, end: int) -> str:
        """The comments starting in ``[start, end)``, markers stripped, one per line."""
        indices = self.comment_range(start, end)
        found = [_clean_comment(node_text(self.comments[i])) for i in indices]
        return "\n".join(text for text in found if text)

    def is_closer(self, start: int, end: int) -> bool:
        """Only closing punctuation (``}``, ``};``, Ruby ``end``), perhaps with comments."""
        kept, pos = [], start
        for i in self.comment_range(start, end):
            kept.append(self.data[pos : self.c_starts[i]])
            pos = max(pos, self.c_ends[i])
        tokens = b" ".join([*kept, self.data[pos:end]]).split()
        closers = self.g.closers
        return bool(tokens) and all(t in closers or _PUNCTUATION.fullmatch(t) for t in tokens)

    def char(self, pos: int) -> int:
        """Byte offset -> character offset into ``self.text``."""
        if len(self.data) == len(self.text):
            return pos
        row = self.line(pos)
        head = self.data[self.lines[row] : pos].decode("utf-8", "surrogatepass")
        return self.char_lines[row] + len(head)
