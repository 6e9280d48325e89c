"""Source code, parsed by program analysis (tree-sitter) into one block per symbol.

Functions, classes, structs, interfaces, traits, impl blocks and methods each get a block whose
``Block.symbol`` carries the qualified name, kind, signature, docstring and comments. A class's
own block holds its header, docstring and fields up to its first method; methods are blocks of
their own. Everything else (imports, constants, top-level statements) lands in ``module`` blocks,
so the blocks partition the file's non-blank lines.

Which nodes are symbols in which language is data, in :mod:`lore.ingest.grammars`. tree-sitter
counts bytes; spans are converted to character offsets into ``Document.text`` at the very end.
"""

from __future__ import annotations

import inspect
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node, Parser, Query, QueryCursor
from tree_sitter_language_pack import get_language, get_parser

from lore.errors import ConfigError, IngestError
from lore.ingest.grammars import GRAMMARS, Grammar, body_of, describe, first_child, node_text
from lore.ingest.normalize import decode_text
from lore.types import Block, Document, Symbol

__all__ = ["LANGUAGE_BY_SUFFIX", "extract_blocks", "parse_code", "sniff_language"]

_MAX_SIGNATURE = 300
_MAX_COMMENTS = 1000
_BLOCK_TYPES = frozenset({
    "block", "statement_block", "compound_statement", "body_statement", "constructor_body",
    "function_body",
})
"""Body node types whose children are statements (an arrow function's body may be an expression)."""
_STATEMENT_LISTS = frozenset({"statement_list", "statements"})
_PUNCTUATION = re.compile(rb"[{}()\[\];,]+")
_LINE_MARK = re.compile(r"^(?://+!?|#+!?|\*+)\s?")


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


def _statements(g: Grammar, body: Node) -> list[Node]:
    """The top-level statements of a body, looking through Go and Kotlin statement lists."""
    found: list[Node] = []
    for child in body.named_children:
        if child.type in _STATEMENT_LISTS:
            found.extend(c for c in child.named_children if c.type not in g.comments)
        elif child.type not in g.comments:
            found.append(child)
    return found


@dataclass(slots=True, eq=False)
class _Item:
    """One symbol found in the tree. Offsets are bytes."""

    decl: Node
    outer: Node
    """The declaration with its wrappers (decorators, ``export``, ``template<>``)."""
    start: int
    """Line start of the doc comment, attributes or wrapper above the declaration."""
    end: int
    name: tuple[str, ...]
    """Qualified name parts, outermost scope first."""
    kind: str
    body: Node | None
    parent: tuple[int, int] | None
    members: list[_Item] = field(default_factory=list)
    others: list[Node] = field(default_factory=list)
    """Statements of the body, or the non-member children of a container's body."""


@dataclass(slots=True, eq=False)
class _Piece:
    """A future block: a byte span owned by a symbol, or by the module when ``item`` is None."""

    start: int
    end: int
    item: _Item | None
    others: list[Node]


class _Extractor:
    """Finds the symbols of one parsed file and partitions the file into blocks."""

    def __init__(self, g: Grammar, text: str, module: str) -> None:
        self.g, self.text, self.module = g, text, module
        self.data = text.encode("utf-8", "surrogatepass")
        self.lines = [0, *(m.end() for m in re.finditer(b"\n", self.data))]
        self.char_lines = [0, *(m.end() for m in re.finditer("\n", text))]
        self.root = _parser(g).parse(self.data).root_node
        captured = QueryCursor(_comment_query(g)).captures(self.root).get("comment", [])
        self.comments = sorted(captured, key=lambda n: n.start_byte)
        self.c_starts = [c.start_byte for c in self.comments]
        self.c_ends = [c.end_byte for c in self.comments]
        self.ends: dict[int, list[int]] = {}

    def blocks(self) -> list[Block]:
        package = first_child(self.root, [self.g.package]) if self.g.package else None
        named = package.named_children if package is not None else []
        scope = (node_text(named[-1]),) if named else ()
        items, others = self._collect(self.root.children, scope, None)
        pieces = self._partition(0, len(self.data), items, None, others)
        return [self._block(piece) for piece in pieces]

    # -- finding symbols -------------------------------------------------------------------

    def _collect(
        self, nodes: Iterable[Node], scope: tuple[str, ...], container: _Item | None
    ) -> tuple[list[_Item], list[Node]]:
        items: list[_Item] = []
        others: list[Node] = []
        for node in nodes:
            if not node.is_named or node.type in self.g.comments:
                continue
            item = self._item(node, scope, container)
            found = ([item], []) if item is not None else self._descend(node, scope, container)
            if found is not None and found[0]:
                items.extend(found[0])
                others.extend(found[1])
            else:
                others.append(node)
        return items, others

    def _descend(
        self, node: Node, scope: tuple[str, ...], container: _Item | None
    ) -> tuple[list[_Item], list[Node]] | None:
        if node.type in self.g.scopes and (body := body_of(self.g, node)) is not None:
            name = node_text(node.child_by_field_name("name")).strip("'\"")
            inner = tuple(p for p in re.split(r"::|\.", name) if p)
            return self._collect(body.children, scope + inner, container)
        if node.type in self.g.transparent or node.is_error:  # a syntax error may hide symbols
            return self._collect(node.children, scope, container)
        return None

    def _unwrap(self, node: Node) -> Node | None:
        while node.type in self.g.wrappers:
            inner = first_child(node, [*self.g.symbols, *self.g.wrappers])
            if inner is None:
                return None
            node = inner
        return node

    def _item(self, node: Node, scope: tuple[str, ...], container: _Item | None) -> _Item | None:
        decl = self._unwrap(node)
        if decl is None or decl.type not in self.g.symbols:
            return None
        found = self.g.hooks.get(decl.type, describe)(self.g, decl, node)
        if found is None:
            return None
        kind = found.kind
        if kind == "function" and (container is not None or len(found.name) > 1):
            kind = "method"
        parent = (container.start, container.end) if container is not None else None
        item = _Item(decl, node, self._leading(node), node.end_byte, scope + found.name, kind,
                     found.body, parent)
        if found.body is None:
            return item
        if decl.type in self.g.containers:
            item.members, item.others = self._collect(found.body.children, item.name, item)
            if all(self._starts_line(m.start) for m in item.members):
                return item
            item.members = []  # members share a line (one-line class): keep it in one block
        if decl.type in self.g.containers or found.body.type in _BLOCK_TYPES:
            item.others = _statements(self.g, found.body)
        return item

    # -- byte-level helpers ---------------------------------------------------------------

    def _line(self, pos: int) -> int:
        return bisect_right(self.lines, pos) - 1

    def _line_start(self, pos: int, floor: int = 0) -> int:
        """The start of ``pos``'s line when only indentation precedes it there, else ``pos``."""
        start = self.lines[self._line(pos)]
        return start if start >= floor and not self.data[start:pos].strip() else pos

    def _starts_line(self, pos: int) -> bool:
        return self.lines[self._line(pos)] == pos

    def _adjacent(self, end: int, start: int) -> bool:
        """Only whitespace, and no blank line, between ``end`` and ``start``."""
        gap_is_blank = not self.data[end:start].strip()
        return gap_is_blank and self._line(start) - self._line(max(end - 1, 0)) <= 1

    def _leading(self, node: Node) -> int:
        """Where ``node`` starts with the comments and attributes directly above it."""
        start = node.start_byte
        prev = node.prev_named_sibling
        while True:
            while prev is not None and (prev.end_byte > start or prev.type in self.g.comments):
                prev = prev.prev_named_sibling
            if prev is not None and prev.type in self.g.prefixes and self._adjacent(
                prev.end_byte, start
            ):
                start = prev.start_byte
                continue
            i = bisect_right(self.c_ends, start) - 1
            floor = 0 if prev is None else prev.end_byte  # not a comment inside the code above
            if prev is not None and prev.type in self.g.leaky:
                floor = prev.start_byte
            if i < 0 or self.c_starts[i] < floor or not self._adjacent(self.c_ends[i], start):
                break
            if not self._starts_line(self._line_start(self.c_starts[i])):
                break  # a trailing comment of the code above
            start = self.c_starts[i]
        return self._line_start(start)

    def _comment_range(self, start: int, end: int) -> range:
        return range(bisect_left(self.c_starts, start), bisect_left(self.c_starts, end))

    def _comment_text(self, start: int, end: int) -> str:
        indices = self._comment_range(start, end)
        found = [_clean_comment(node_text(self.comments[i])) for i in indices]
        return "\n".join(text for text in found if text)

    def _is_closer(self, start: int, end: int) -> bool:
        """Only closing punctuation (``}``, ``};``, Ruby ``end``), perhaps with comments."""
        kept, pos = [], start
        for i in self._comment_range(start, end):
            kept.append(self.data[pos : self.c_starts[i]])
            pos = max(pos, self.c_ends[i])
        tokens = b" ".join([*kept, self.data[pos:end]]).split()
        closers = self.g.closers
        return bool(tokens) and all(t in closers or _PUNCTUATION.fullmatch(t) for t in tokens)

    # -- partitioning the file into pieces ------------------------------------------------

    def _partition(
        self, lo: int, hi: int, items: list[_Item], owner: _Item | None, others: list[Node]
    ) -> list[_Piece]:
        """Symbols in ``[lo, hi)`` become pieces; the gaps between them belong to ``owner``."""
        pieces: list[_Piece] = []
        pos = lo
        for item in items:
            line_start = self.lines[self._line(item.start)]
            if line_start < pos:
                continue  # on the line where the symbol before ends: stays in the gap
            # Text before a symbol on its line (say a C++ template parsed as C) joins the symbol.
            start = line_start
            self._gap(pos, start, pieces, owner, others)
            if item.members:
                pieces.extend(self._partition(start, item.end, item.members, item, item.others))
            else:
                pieces.append(_Piece(start, item.end, item, item.others))
            pos = max(item.end, start)
        self._gap(pos, hi, pieces, owner, others)
        return pieces

    def _gap(
        self, a: int, b: int, pieces: list[_Piece], owner: _Item | None, others: list[Node]
    ) -> None:
        """Text between symbols: the rest of the last symbol's line and closing braces join
        the piece before; anything else becomes a piece of ``owner`` (or of the module)."""
        if pieces and pieces[-1].end == a:
            newline = self.data.find(b"\n", a, b)
            cut = b if newline < 0 else newline
            pieces[-1].end = a + len(self.data[a:cut].rstrip())
            a = cut
        chunk = self.data[a:b]
        start, end = a + len(chunk) - len(chunk.lstrip()), a + len(chunk.rstrip())
        if start >= end:
            return
        if pieces and self._is_closer(start, end):
            pieces[-1].end = end
        else:
            pieces.append(_Piece(self._line_start(start, a), end, owner, others))

    # -- turning pieces into blocks -------------------------------------------------------

    def _char(self, pos: int) -> int:
        """Byte offset -> character offset into ``self.text``."""
        if len(self.data) == len(self.text):
            return pos
        row = self._line(pos)
        head = self.data[self.lines[row] : pos].decode("utf-8", "surrogatepass")
        return self.char_lines[row] + len(head)

    def _block(self, piece: _Piece) -> Block:
        start, end = self._char(piece.start), self._char(piece.end)
        item = piece.item
        parent = item.parent if item is not None else None
        return Block(
            text=self.text[start:end],
            start=start,
            end=end,
            kind="code",
            section=item.name[:-1] if item is not None else (),
            parent=(self._char(parent[0]), self._char(parent[1])) if parent else None,
            symbol=self._symbol(piece),
            statements=self._statement_spans(piece),
        )

    def _statement_spans(self, piece: _Piece) -> tuple[tuple[int, int], ...]:
        ends = self.ends.get(id(piece.others))  # pieces of one owner share its statement list
        if ends is None:
            ends = self.ends[id(piece.others)] = [node.end_byte for node in piece.others]
        spans = []
        for i in range(bisect_right(ends, piece.start), len(ends)):
            node = piece.others[i]
            if node.start_byte >= piece.end:
                break
            start, end = max(node.start_byte, piece.start), min(node.end_byte, piece.end)
            if start < end:  # in the piece, and not a zero-width MISSING node
                start = max(self._leading(node), piece.start)
                spans.append((self._char(start), self._char(end)))
        return tuple(spans)

    def _symbol(self, piece: _Piece) -> Symbol:
        item = piece.item
        if item is None:
            comments = self._comment_text(piece.start, piece.end)
            return Symbol(self.module, "module", "", comments=comments[:_MAX_COMMENTS])
        doc_end = item.outer.start_byte if piece.start <= item.start else piece.start
        above = self._comment_text(piece.start, doc_end)
        inner = self._comment_text(doc_end, piece.end)
        docstring = self._docstring(item)
        comments = "\n".join(c for c in (above if docstring else "", inner) if c)
        return Symbol(
            name=".".join(item.name),
            kind=item.kind,
            signature=self._signature(item),
            docstring=docstring or above,
            comments=comments[:_MAX_COMMENTS],
        )

    def _signature(self, item: _Item) -> str:
        """The declaration with its decorators or template header, up to its body; no comments."""
        start, end = item.outer.start_byte, item.decl.end_byte
        if item.body is not None and item.body.start_byte > start:
            end = item.body.start_byte
        first_comment = bisect_left(self.c_starts, start)
        if first_comment < len(self.c_starts):
            end = min(end, self.c_starts[first_comment])
        raw = self.data[start:end].decode("utf-8", "surrogatepass")
        if item.body is None:
            raw = raw.split("{", 1)[0]
        return " ".join(raw.split())[:_MAX_SIGNATURE]

    def _docstring(self, item: _Item) -> str:
        """Python: the first string literal of the body."""
        if not self.g.docstrings or item.body is None:
            return ""
        first = next((c for c in item.body.named_children if c.type not in self.g.comments), None)
        if first is not None and first.type == "expression_statement" and first.named_children:
            first = first.named_children[0]
        if first is None or first.type != "string":
            return ""
        content = "".join(node_text(c) for c in first.named_children if c.type == "string_content")
        return inspect.cleandoc(content)


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


def extract_blocks(text: str, language: str, module: str = "") -> list[Block]:
    """Parse ``text`` as ``language`` and return its blocks in document order.

    Args:
        text: Normalised source text (LF line endings); block spans are offsets into it.
        language: A value of :data:`LANGUAGE_BY_SUFFIX`.
        module: The name of the ``module`` blocks' symbol, usually the file stem.

    Returns:
        One ``kind="code"`` block per symbol (methods apart from their class) and per run of
        module-level code; together they cover every non-blank line once. Empty text gives none.
    """
    grammar = GRAMMARS.get(language)
    if grammar is None:
        raise ConfigError(f"no code grammar for {language!r}; choose from {sorted(GRAMMARS)}")
    if not text.strip():
        return []
    return _Extractor(grammar, text, module).blocks()


def parse_code(path: Path, data: bytes, mtime: float) -> list[Document]:
    """Read one source file into a Document whose blocks are its symbols.

    Example:
        >>> from pathlib import Path
        >>> [doc] = parse_code(Path("cache.py"), b"def get(key):\\n    return key\\n", 0.0)
        >>> [(b.symbol.name, b.symbol.kind) for b in doc.blocks if b.symbol]
        [('get', 'function')]
    """
    language = LANGUAGE_BY_SUFFIX.get(path.suffix.lower())
    if language is None:
        known = ", ".join(sorted(LANGUAGE_BY_SUFFIX))
        raise IngestError(str(path), f"not a known source file suffix; known: {known}")
    text = decode_text(path, data)
    blocks = extract_blocks(text, language, module=path.stem)
    document = Document(
        path=str(path),
        text=text,
        title=path.name,
        format=language,
        language=language,
        mtime=mtime,
        blocks=tuple(blocks),
    )
    return [document]
