"""Source code, parsed by program analysis (tree-sitter) into one block per symbol.

Functions, classes, structs, interfaces, traits, impl blocks and methods each get a block whose
``Block.symbol`` carries the qualified name, kind, signature, docstring and comments. A class's
own block holds its header, docstring and fields up to its first method; methods are blocks of
their own. Everything else (imports, constants, top-level statements) lands in ``module`` blocks,
so the blocks partition the file's non-blank lines.

Which nodes are symbols in which language is data, in :mod:`lore.ingest.grammars`; which
language a file is in, in :mod:`lore.ingest.languages`. tree-sitter counts bytes; the byte-level
reading of a file (lines, comments, closing braces) is :class:`lore.ingest.source_file.SourceFile`,
and spans are converted to character offsets into ``Document.text`` at the very end.
"""

from __future__ import annotations

import inspect
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node

from lore.errors import ConfigError, IngestError
from lore.ingest.grammars import GRAMMARS, Grammar, body_of, describe, first_child, node_text
from lore.ingest.languages import LANGUAGE_BY_SUFFIX
from lore.ingest.normalize import decode_text
from lore.ingest.source_file import SourceFile
from lore.types import Block, Document, Symbol

__all__ = ["extract_blocks", "parse_code"]

_MAX_SIGNATURE = 300
_MAX_COMMENTS = 1000
_BLOCK_TYPES = frozenset({
    "block", "statement_block", "compound_statement", "body_statement", "constructor_body",
    "function_body",
})
"""Body node types whose children are statements (an arrow function's body may be an expression)."""
_STATEMENT_LISTS = frozenset({"statement_list", "statements"})


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
        self.g, self.module = g, module
        self.src = SourceFile(g, text)
        self.ends: dict[int, list[int]] = {}

    def blocks(self) -> list[Block]:
        root = self.src.root
        package = first_child(root, [self.g.package]) if self.g.package else None
        named = package.named_children if package is not None else []
        scope = (node_text(named[-1]),) if named else ()
        items, others = self._collect(root.children, scope, None)
        pieces = self._partition(0, len(self.src.data), items, None, others)
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
        item = _Item(decl, node, self.src.leading(node), node.end_byte, scope + found.name, kind,
                     found.body, parent)
        if found.body is None:
            return item
        if decl.type in self.g.containers:
            item.members, item.others = self._collect(found.body.children, item.name, item)
            if all(self.src.starts_line(m.start) for m in item.members):
                return item
            item.members = []  # members share a line (one-line class): keep it in one block
        if decl.type in self.g.containers or found.body.type in _BLOCK_TYPES:
            item.others = _statements(self.g, found.body)
        return item

    # -- partitioning the file into pieces ------------------------------------------------

    def _partition(
        self, lo: int, hi: int, items: list[_Item], owner: _Item | None, others: list[Node]
    ) -> list[_Piece]:
        """Symbols in ``[lo, hi)`` become pieces; the gaps between them belong to ``owner``."""
        pieces: list[_Piece] = []
        pos = lo
        for item in items:
            line_start = self.src.lines[self.src.line(item.start)]
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
            newline = self.src.data.find(b"\n", a, b)
            cut = b if newline < 0 else newline
            pieces[-1].end = a + len(self.src.data[a:cut].rstrip())
            a = cut
        chunk = self.src.data[a:b]
        start, end = a + len(chunk) - len(chunk.lstrip()), a + len(chunk.rstrip())
        if start >= end:
            return
        if pieces and self.src.is_closer(start, end):
            pieces[-1].end = end
        else:
            pieces.append(_Piece(self.src.line_start(start, a), end, owner, others))

    # -- turning pieces into blocks -------------------------------------------------------

    def _block(self, piece: _Piece) -> Block:
        start, end = self.src.char(piece.start), self.src.char(piece.end)
        item = piece.item
        parent = item.parent if item is not None else None
        return Block(
            text=self.src.text[start:end],
            start=start,
            end=end,
            kind="code",
            section=item.name[:-1] if item is not None else (),
            parent=(self.src.char(parent[0]), self.src.char(parent[1])) if parent else None,
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
                start = max(self.src.leading(node), piece.start)
                spans.append((self.src.char(start), self.src.char(end)))
        return tuple(spans)

    def _symbol(self, piece: _Piece) -> Symbol:
        item = piece.item
        if item is None:
            comments = self.src.comment_text(piece.start, piece.end)
            return Symbol(self.module, "module", "", comments=comments[:_MAX_COMMENTS])
        doc_end = item.outer.start_byte if piece.start <= item.start else piece.start
        above = self.src.comment_text(piece.start, doc_end)
        inner = self.src.comment_text(doc_end, piece.end)
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
        first_comment = bisect_left(self.src.c_starts, start)
        if first_comment < len(self.src.c_starts):
            end = min(end, self.src.c_starts[first_comment])
        raw = self.src.data[start:end].decode("utf-8", "surrogatepass")
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
