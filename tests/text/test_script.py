from __future__ import annotations

import pytest

from lore.text.script import detect_language, mostly_non_latin, non_latin_share


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


def test_share_of_non_latin_letters() -> None:
    assert non_latin_share("") == (0.0, 0)
    assert non_latin_share("plain English") == (0.0, 12)
    share, letters = non_latin_share("检索 ok")
    assert (round(share, 2), letters) == (0.5, 4)


def test_mostly_non_latin() -> None:
    assert mostly_non_latin("检索增强生成是什么")
    assert not mostly_non_latin("What is retrieval-augmented generation? 检索")
    assert not mostly_non_latin("12345 !!!")
