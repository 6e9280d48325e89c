from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from lore.errors import IngestError
from lore.ingest.normalize import decode_text, normalize_text

PATH = Path("/data/file.txt")


@pytest.mark.parametrize("data", [
    "héllo wörld".encode(),
    codecs.BOM_UTF8 + "héllo wörld".encode(),
    codecs.BOM_UTF16_LE + "héllo wörld".encode("utf-16-le"),
    codecs.BOM_UTF16_BE + "héllo wörld".encode("utf-16-be"),
])
def test_decode_text_reads_utf8_and_utf16_with_bom(data: bytes) -> None:
    assert decode_text(PATH, data) == "héllo wörld"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read_not_called_binary(encoding: str) -> None:
    text = "Expired cache entries are removed by a sweeper, café included."
    assert decode_text(PATH, text.encode(encoding)) == text


def test_decode_text_refuses_binary_files() -> None:
    with pytest.raises(IngestError, match="binary") as caught:
        decode_text(PATH, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert caught.value.path == str(PATH)


def test_decode_text_explains_how_to_convert_other_encodings() -> None:
    with pytest.raises(IngestError, match="iconv -f latin1 -t utf-8") as caught:
        decode_text(PATH, "café".encode("latin-1"))
    assert "UTF-8" in caught.value.reason


def test_normalize_text_fixes_newlines_unicode_and_trailing_space() -> None:
    raw = "  indented\r\nline two  \rcafe\u0301\t\n\n\n"
    assert normalize_text(raw) == "  indented\nline two\ncafé"


def test_normalize_text_keeps_leading_blank_lines_for_line_numbers() -> None:
    assert normalize_text("\n\nthird line") == "\n\nthird line"
