"""Training retrieval from the answering model end to end: a real knowledge base (SQLite,
MiniLM), the scripted generator's scores, the trained query encoder used by ``ask``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lore
from lore.cli import main
from lore.config import EmbedConfig, GenerateConfig
from lore.embed.protocol import Embedder
from lore.embed.registry import create_embedder
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError
from lore.eval.answers import run_qa
from lore.eval.qa import load_qa
from lore.models.gguf import resolve_gguf
from lore.rag_joint import check_memory
from lore.rag_training import RagTraining, load_rag_system
from lore.testing.fakes import ScriptedGenerator
from lore.train.lm_scores import Candidates
from lore.train.qa_split import QAExample
from lore.train.query_encoder import train_query_encoder
from lore.train.settings import LoraSettings, RagSettings, TrainSettings

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
ASKED = {
    "tides": ("what pulls on the oceans?", "the moon"),
    "bees": ("where do bees store honey?", "wax combs"),
    "glaciers": ("what valleys do glaciers carve?", "U-shaped"),
    "volcanoes": ("what rises through cracks in the crust?", "molten rock"),
    "comets": ("what are comet tails made of?", "gas and dust"),
    "owls": ("how do owls hear?", "keen hearing"),
    "coral": ("what are reefs built from?", "limestone"),
    "salmon": ("where do salmon spawn?", "the rivers where they hatched"),
    "bats": ("how do bats find insects?", "echoes"),
    "deserts": ("how much rain falls in a desert?", "twenty-five centimetres"),
    "lightning": ("what does lightning burst into?", "thunder"),
    "moss": ("where does moss grow?", "damp shaded stones"),
}
pytestmark = pytest.mark.slow  # MiniLM trains in each
HELD = "moss"
"""The test split's document in these tests: training must never read it."""


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": key, "title": key.title(), "text": text}) + "\n"
        for key, text in FACTS.items()))
    with lore.open(tmp_path / "kb") as kb:
        kb.index([docs])
    return tmp_path / "kb"


def examples() -> list[QAExample]:
    asked = [QAExample(key, question, (answer,), (key,))
             for key, (question, answer) in ASKED.items() if key != HELD]
    return [*asked, QAExample("nowhere", "what colour is the sky on Mars?", ("butterscotch",))]


QUICK = RagTraining(TrainSettings(epochs=2, batch_size=4, learning_rate=5e-5), k=4,
                    held_out=0.2, generator="scripted")


def test_training_reads_no_test_document_and_publishes_a_rag_model(
        kb_dir: Path, scripted: ScriptedGenerator) -> None:
    with lore.open(kb_dir) as kb:
        model = kb.train_rag(examples(), "facts", frozenset({HELD}), QUICK)
        assert model.kind == "rag" and model.spec == "trained:rag-1"
        assert model.settings["generator"] == "scripted"
        assert model.settings["unanswerable"] == 1  # the Mars question: in no passage
        assert model.data.pairs + model.data.held_out == len(ASKED) - 1
        assert set(model.metrics["after"]) == {"first_holds_answer", "top3_holds_answer",
                                               "answer_loglik"}
        assert len(model.losses) > 0 and all(np.isfinite(model.losses))
        read = [m.content for messages, _ in scripted.scored for m in messages]
        assert read and not any(FACTS[HELD] in content for content in read)
        assert [m.kind for m in kb.models()] == ["rag"]


def test_scores_are_kept_so_a_second_run_scores_nothing(
        kb_dir: Path, scripted: ScriptedGenerator) -> None:
    with lore.open(kb_dir) as kb:
        kb.train_rag(examples(), "facts", frozenset({HELD}), QUICK)
        scored = len(scripted.scored)
        kb.train_rag(examples(), "facts", frozenset({HELD}),
                     RagTraining(QUICK.settings, RagSettings("replug"), QUICK.k,
                                 QUICK.held_out, "scripted", name="replugged"))
        assert len(scripted.scored) == scored
        assert [m.name for m in kb.models()] == ["rag-1", "replugged"]


def test_ask_searches_with_the_trained_encoder_and_answers_with_its_model(
        kb_dir: Path, scripted: ScriptedGenerator) -> None:
    with lore.open(kb_dir) as kb:
        model = kb.train_rag(examples(), "facts", frozenset({HELD}), QUICK)
        base = kb.search("what pulls on the oceans?", k=3, mode="dense")
        trained = kb.search("what pulls on the oceans?", k=3, mode="dense",
                            query_encoder=model.spec)
        assert [h.scores["dense"] for h in base] != [h.scores["dense"] for h in trained]
        scripted.enqueue("the moon [1]")
        answer = kb.ask("what pulls on the oceans?", model=model.spec, template="short")
        assert answer.text.startswith("the moon")


class Drifted:
    """The knowledge base's embedder with each query pulled toward one fixed direction: unit
    vectors still, but every cosine lower, as a trained query encoder's can sit."""

    def __init__(self, embedder: Embedder) -> None:
        self.name, self.dim, self.max_tokens = "drifted", embedder.dim, embedder.max_tokens
        self._embedder = embedder
        direction = np.random.default_rng(0).standard_normal(embedder.dim)
        self._direction = (direction / np.linalg.norm(direction)).astype(np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embedder.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        pulled = self._embedder.embed_query(text) + 2.0 * self._direction
        unit: np.ndarray = pulled / np.linalg.norm(pulled)
        return unit

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._embedder.count_tokens(texts)


def test_hits_of_another_query_encoder_are_gated_on_the_embedders_own_cosines(
        kb_dir: Path, scripted: ScriptedGenerator) -> None:
    question = "what makes the sea rise and fall?"  # no passage holds all its words
    settings = GenerateConfig(model="scripted", template="short")
    with lore.open(kb_dir) as kb:
        drifted = Drifted(kb.embedder)
        passages = kb.passages(kb.search(question, k=3, mode="dense", query_encoder=drifted))
        floor = kb.answerer(settings).floor
        assert floor is not None and max(p.hit.scores["dense"] for p in passages) < floor
        assert not kb.answerer(settings).relevant(question, passages)
        assert kb.answerer(settings, drifted).relevant(question, passages)
        assert not kb.answerer(settings, drifted).relevant("how do I bake sourdough bread?",
                                                           passages)


def test_a_system_is_refused_on_vectors_it_was_not_trained_against(
        kb_dir: Path, scripted: ScriptedGenerator) -> None:
    with lore.open(kb_dir) as kb:
        model = kb.train_rag(examples(), "facts", frozenset({HELD}), QUICK)
        with pytest.raises(ConfigError, match="trained against vectors of 'minilm'.*reembed"):
            load_rag_system(kb, model, "e5-small")


def test_evaluation_refuses_questions_the_system_was_trained_on(
        kb_dir: Path, tmp_path: Path, scripted: ScriptedGenerator) -> None:
    qa_file = tmp_path / "qa.jsonl"
    qa_file.write_text(json.dumps({"_id": "t", "question": "What pulls on the OCEANS?",
                                   "answers": ["the moon"]}) + "\n")
    with lore.open(kb_dir) as kb:
        model = kb.train_rag(examples(), "facts", frozenset({HELD}), QUICK)
        settings = GenerateConfig(model=model.spec, template="short")
        with pytest.raises(ConfigError, match="1 of .* were trained on by trained:rag-1"):
            next(run_qa(kb, load_qa(qa_file), settings))


def test_too_few_answerable_questions_are_refused(kb_dir: Path,
                                                  scripted: ScriptedGenerator) -> None:
    with lore.open(kb_dir) as kb, pytest.raises(ConfigError, match="only 0 of 1 questions"):
        kb.train_rag(examples()[-1:], "facts", frozenset(), QUICK)


def qa_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": key, "title": key.title(), "text": text}) + "\n"
        for key, text in FACTS.items()))
    (folder / "qa.jsonl").write_text("".join(
        json.dumps({"_id": key, "question": q, "answers": [a], "doc_id": key}) + "\n"
        for key, (q, a) in ASKED.items()))
    return folder


def test_the_command_trains_on_the_training_side_of_a_qa_folder(
        kb_dir: Path, tmp_path: Path, scripted: ScriptedGenerator) -> None:
    result = CliRunner().invoke(main, ["train", "rag", "--qa", str(qa_folder(tmp_path)),
                                       "--kb", str(kb_dir), "--generator", "scripted", "--k",
                                       "3", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["kind"] == "rag" and record["settings"]["excluded_documents"] >= 1
    assert "test questions" in result.stderr


JOINT = RagTraining(TrainSettings(epochs=1, batch_size=4, learning_rate=5e-5, dtype="float32"),
                    k=2, held_out=0.2, generator="smollm2", train="joint",
                    lora=LoraSettings(rank=4, alpha=8, learning_rate=1e-3))


def test_joint_training_publishes_a_merged_model_that_llama_cpp_answers_with(
        kb_dir: Path) -> None:
    with lore.open(kb_dir) as kb:
        model = kb.train_rag(examples(), "facts", frozenset({HELD}), JOINT)
        adapter, merged = model.path / "generator.gguf", model.path / "generator-merged.gguf"
        assert model.settings["train"] == "joint" and adapter.is_file()
        assert model.settings["merged"] is True
        assert set(model.metrics["after"]) == {"first_holds_answer", "top3_holds_answer",
                                               "answer_loglik"}
        system = kb.rag_system(model.spec)
        assert system.generator == str(merged)
        assert system.encoder is not kb.embedder
        answer = kb.ask("what pulls on the oceans?", model=model.spec, template="short")
        assert answer.text and answer.model == system.generator


def test_the_generator_alone_learns_on_gold_passages_over_the_embedder(kb_dir: Path) -> None:
    with lore.open(kb_dir) as kb:
        model = kb.train_rag(examples(), "facts", frozenset({HELD}),
                             replace(JOINT, train="generator", merge=False))
        assert model.settings["k"] == 1 and not model.model_dir.exists()
        system = kb.rag_system(model.spec)
        assert system.encoder is kb.embedder
        assert system.generator == f"smollm2+lora:{model.path / 'generator.gguf'}"
        assert not (model.path / "generator-merged.gguf").exists()
        moved = replace(model, settings={**model.settings, "generator_base": "1:other"})
        with pytest.raises(ConfigError, match="adapter was trained on another 'smollm2'"):
            load_rag_system(kb, moved, kb.status().embedder)


def test_replug_trains_no_answering_model(kb_dir: Path) -> None:
    with lore.open(kb_dir) as kb, pytest.raises(ConfigError, match="REPLUG trains the "
                                                                  "retriever alone"):
        kb.train_rag(examples(), "facts", frozenset(), replace(JOINT, rag=RagSettings("replug")))


def test_a_machine_without_the_memory_is_told_before_loading() -> None:
    with pytest.raises(ConfigError, match="needs about .* GiB of memory and 1.0 GiB is free"):
        check_memory(resolve_gguf("smollm2"), available=1 << 30)


def test_the_command_trains_the_answering_model_with_its_adapter_options(
        kb_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["train", "rag", "--qa", str(qa_folder(tmp_path)),
                                       "--kb", str(kb_dir), "--train", "generator",
                                       "--generator", "smollm2", "--lora-rank", "2",
                                       "--lora-layers", "4", "--no-merge", "--json"])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output.strip().splitlines()[-1])["settings"]
    assert settings["train"] == "generator" and settings["generator"] == "smollm2"
    assert settings["merged"] is False
    assert (settings["lora"]["rank"], settings["lora"]["layers"]) == (2, 4)


def test_the_encoder_learns_the_passage_the_model_prefers(tmp_path: Path) -> None:
    """The model's scores name, for each question, a passage the untrained encoder does not
    rank first; after training the encoder ranks it first for most questions."""
    embedder = create_embedder(EmbedConfig(model="minilm"))
    assert isinstance(embedder, TransformerEmbedder)
    keys = list(FACTS)
    vectors = embedder.embed_documents(list(FACTS.values()))
    wanted = {key: keys[(i + 1) % len(keys)] for i, key in enumerate(keys)}
    train = []
    for key, (question, _) in ASKED.items():
        lm = np.full((len(keys), 1), -6.0)
        lm[keys.index(wanted[key]), 0] = -0.05
        train.append(Candidates(question, vectors, lm))

    def firsts(encoder: Embedder) -> int:
        return sum(keys[int(np.argmax(vectors @ encoder.embed_query(q)))] == wanted[key]
                   for key, (q, _) in ASKED.items())

    out = tmp_path / "encoder"
    train_query_encoder(embedder.model_dir, train,
                        TrainSettings(epochs=15, batch_size=4, learning_rate=2e-4, warmup=0.0),
                        RagSettings(), out)
    assert firsts(embedder) <= 1
    assert firsts(TransformerEmbedder(out)) >= 9
