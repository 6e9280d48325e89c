"""Synthetic questions: written by a model in the chunk's language, kept when search finds
their chunk again, journaled so a second run asks the model nothing it already asked."""

from __future__ import annotations

from pathlib import Path

import pytest

import lore
from lore.errors import ConfigError
from lore.synthesis import synthetic_pairs
from lore.testing.fakes import ScriptedGenerator
from lore.train.synthetic import clean_question

LONG = {
    "tides": "The tides rise and fall twice a day because the moon pulls on the oceans, and "
             "the sun adds a smaller pull of its own at new and full moon.",
    "bees": "Honey bees turn flower nectar into honey and store it in wax combs that the "
            "workers build from glands on their abdomens during the summer.",
    "glaciers": "Glaciers grind slowly downhill under their own weight and carve deep "
                "U-shaped valleys, leaving moraines of rock where the ice melts.",
    "茶": "绿茶在采摘后很快杀青，以保留叶片的绿色和清香；红茶则要经过完全发酵，"
         "颜色和味道都更加浓郁醇厚，适合加奶或加糖饮用，在很多国家都很受欢迎。",
}
QUESTIONS = {
    "tides": "Why do the tides rise and fall twice a day?",
    "bees": "Question: What do the owls of the northern forests hunt?",  # found nowhere
    "glaciers": "",  # the model wrote nothing usable
    "茶": "红茶和绿茶的制作有什么不同？",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    for name, text in LONG.items():
        (root / f"{name}.md").write_text(f"# {name}\n\n{text}\n")
    for number in range(30):  # short notes (never asked about) that compete in search
        (root / f"note{number}.md").write_text(f"Note {number}: owls and forests, entry "
                                               f"{number}.\n")
    return root


def test_a_reply_is_cut_to_its_question() -> None:
    assert clean_question("Question: Why is the sky blue?\nBecause...") == "Why is the sky blue?"
    assert clean_question('  "What makes tides?"  ') == "What makes tides?"
    assert clean_question("问题：茶是怎么做的？") == "茶是怎么做的？"
    assert clean_question("\n\n") == "" and clean_question("Why?") == ""


def test_questions_are_kept_when_search_finds_their_chunk_and_journaled(
        tmp_path: Path, corpus: Path, scripted: ScriptedGenerator) -> None:
    for name, question in QUESTIONS.items():
        scripted.script(question or " ", when=LONG[name][:40])
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
        with pytest.raises(ConfigError, match="only 2 of 4 synthetic questions.*at least 8"):
            synthetic_pairs(kb, 10, model="scripted")
        chinese = [m for asked in scripted.asked for m in asked if "红茶" in m.content]
        assert chinese and "写一个这段文字能够回答的简短问题" in chinese[0].content
        english = [m for asked in scripted.asked for m in asked if "tides" in m.content]
        assert "Write one short question" in english[0].content
        journal = next((tmp_path / "kb" / "training").glob("synthetic-scripted-seed0.jsonl"))
        assert len(journal.read_text().splitlines()) == 4
        scripted.reset()  # nothing scripted now: asking the model again would fail
        with pytest.raises(ConfigError, match="only 2 of 4"):
            synthetic_pairs(kb, 10, model="scripted")
        assert scripted.asked == []


WORDS = ["amber", "basalt", "cobalt", "dolomite", "emerald", "feldspar", "garnet", "hematite",
         "ilmenite"]


def test_enough_kept_questions_become_pairs_with_their_chunk_as_positive(
        tmp_path: Path, scripted: ScriptedGenerator) -> None:
    root = tmp_path / "minerals"
    root.mkdir()
    for word in WORDS:
        (root / f"{word}.md").write_text(
            f"# {word}\n\n{word.title()} is a mineral found in old mountain rock; collectors "
            f"prize {word} for its colour, its hardness and the way it catches light.\n")
        scripted.script(f"Why do collectors prize {word}?", when=f"{word.title()} is")
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([root])
        pairs, report = synthetic_pairs(kb, 50, model="scripted")
    assert (report.written, report.kept, report.dropped) == (9, 9, {})
    assert len(pairs.pairs) == 9 and "synthetic questions (scripted, seed 0" in pairs.origin
    for pair in pairs.pairs:
        word = pair.query.split()[-1].rstrip("?")
        assert pair.positive.startswith(f"# {word}\n\n{word.title()} is a mineral")


def test_an_empty_knowledge_base_has_nothing_to_ask_about(tmp_path: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as kb, \
            pytest.raises(ConfigError, match="holds no chunk of 120\\+ characters.*lore index"):
        synthetic_pairs(kb, 10, model="scripted")
