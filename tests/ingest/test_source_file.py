"""A parsed source file's byte-level answers: line starts, comments above a node, closing
braces, and byte offsets turned into character offsets."""

from __future__ import annotations

from lore.ingest.grammars import GRAMMARS
from lore.ingest.source_file import SourceFile

GO = """\
package cache

// Get returns the value.
// It never blocks.
func Get(key string) string {
	return key
}
"""


def test_comments_directly_above_a_declaration_lead_it() -> None:
    source = SourceFile(GRAMMARS["go"], GO)
    func = next(n for n in source.root.named_children if n.type == "function_declaration")

    assert source.leading(func) == GO.index("// Get")
    assert source.comment_text(0, func.start_byte) == "Get returns the value.\nIt never blocks."


def test_a_blank_line_detaches_a_comment() -> None:
    text = "# about the module\n\ndef f():\n    pass\n"
    source = SourceFile(GRAMMARS["python"], text)
    [_, func] = source.root.named_children

    assert source.leading(func) == text.index("def f")


def test_closing_braces_and_ruby_end_are_closers() -> None:
    go = SourceFile(GRAMMARS["go"], GO)
    ruby = SourceFile(GRAMMARS["ruby"], "class A\nend\n")

    assert go.is_closer(GO.rindex("}"), len(GO))
    assert not go.is_closer(GO.index("return"), GO.rindex("}"))
    assert ruby.is_closer(ruby.data.index(b"end"), len(ruby.data))


def test_byte_offsets_become_character_offsets() -> None:
    text = "# 缓存\ndef après(x):\n    return x\n"
    source = SourceFile(GRAMMARS["python"], text)
    func = source.root.named_children[-1]

    assert source.char(func.start_byte) == text.index("def")
    assert source.char(len(source.data)) == len(text)
    assert source.line(func.start_byte) == 1 and source.starts_line(func.start_byte)
