from __future__ import annotations

import pytest

from lore.text.sentences import paragraph_spans, split_sentences


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


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
