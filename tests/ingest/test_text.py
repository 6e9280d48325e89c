from __future__ import annotations

from pathlib import Path

import pytest

from lore.errors import IngestError
from lore.ingest.text import parse_text
from lore.types import Document

PATH = Path("/notes/todo.txt")


def check_spans(doc: Document) -> None:
    for block in doc.blocks:
        assert doc.text[block.start:block.end] == block.text


def test_paragraphs_become_blocks() -> None:
    data = b"First paragraph\nstill first.\r\n\r\n\r\nSecond one.  \n\n   Third, indented.\n"
    doc, = parse_text(PATH, data, 12.5)
    check_spans(doc)
    assert [b.text for b in doc.blocks] == [
        "First paragraph\nstill first.", "Second one.", "Third, indented.",
    ]
    assert (doc.path, doc.title, doc.format, doc.language, doc.mtime) == (
        str(PATH), "todo.txt", "text", "en", 12.5)
    assert all(b.kind == "prose" and b.section == () for b in doc.blocks)


def test_chinese_text_is_detected() -> None:
    doc, = parse_text(PATH, "第一段文字。\n\n第二段文字，包含更多内容。".encode(), 0.0)
    check_spans(doc)
    assert doc.language == "zh"
    assert len(doc.blocks) == 2


def test_empty_file_has_no_blocks() -> None:
    doc, = parse_text(PATH, b"\n \n", 0.0)
    assert doc.text == "" and doc.blocks == ()


def test_binary_is_refused() -> None:
    with pytest.raises(IngestError, match="binary"):
        parse_text(PATH, b"\x00\x01\x02", 0.0)
