from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from lore.errors import IngestError
from lore.ingest.normalize import (
    decode_text,
    detect_language,
    normalize_text,
    paragraph_spans,
    split_sentences,
)

PATH = Path("/data/file.txt")


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


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


@pytest.mark.parametrize(("text", "language"), [
    ("The quick brown fox jumps over the lazy dog.", "en"),
    ("检索增强生成把检索和生成结合起来，回答问题时引用来源。", "zh"),
    ("使用 Python 的 pip 安装依赖，然后运行测试脚本。", "zh"),
    ("We benchmarked BM25 on 中文 data for the paper.", "en"),
    ("", "en"),
    ("12345 !!! ---", "en"),
])
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_detect_language_samples_long_texts() -> None:
    text = "english words here " * 200 + "这是一个很长的中文段落，用来测试语言检测。" * 400
    assert detect_language(text) == "zh"


def test_split_sentences_english() -> None:
    text = ("See Fig. 2 for details. Pi is about 3.14 here. He said \"stop.\" Then e.g. this "
            "works, as Smith et al. found. What? Yes! Dr. Who came. J. R. Tolkien wrote it.")
    assert sentences(text) == [
        "See Fig. 2 for details.",
        "Pi is about 3.14 here.",
        "He said \"stop.\"",
        "Then e.g. this works, as Smith et al. found.",
        "What?",
        "Yes!",
        "Dr. Who came.",
        "J. R. Tolkien wrote it.",
    ]


def test_split_sentences_keeps_urls_and_lowercase_continuations_together() -> None:
    text = "Open example.com/page?id=3 now. It costs approx. five dollars. The answer is no. Ok."
    assert sentences(text) == [
        "Open example.com/page?id=3 now.",
        "It costs approx. five dollars.",
        "The answer is no.",
        "Ok.",
    ]


def test_split_sentences_chinese() -> None:
    text = "这是第一句。这是第二句！真的吗？是的；继续。“引用的话。”最后一句"
    assert sentences(text) == [
        "这是第一句。", "这是第二句！", "真的吗？", "是的；", "继续。", "“引用的话。”", "最后一句",
    ]


def test_split_sentences_mixed_and_blank_lines() -> None:
    text = "Intro line\nwraps here. 中文句子。English again!\n\nNew paragraph without stop"
    assert sentences(text) == [
        "Intro line\nwraps here.", "中文句子。", "English again!", "New paragraph without stop",
    ]


@pytest.mark.parametrize("text", [
    "", "   ", "no punctuation at all", "A. B. C. d e f. G? h! 你好。 ",
    "Trailing spaces.   \n\n\n  Next.  ", "..!!??。。", "e.g. i.e. etc. vs. Fig. 1.",
])
def test_split_sentences_covers_every_character_once(text: str) -> None:
    spans = split_sentences(text)
    covered = [i for a, b in spans for i in range(a, b)]
    assert covered == sorted(set(covered))
    assert {i for i, ch in enumerate(text) if not ch.isspace()} <= set(covered)
    assert all(not text[a].isspace() and not text[b - 1].isspace() for a, b in spans)


def test_paragraph_spans() -> None:
    text = "  first para\nstill first\n\n\n   second\n \n third"
    assert [text[a:b] for a, b in paragraph_spans(text)] == [
        "first para\nstill first", "second", "third",
    ]
    assert paragraph_spans("") == []
    assert [text[a:b] for a, b in paragraph_spans(text, 27, 38)] == ["second"]
