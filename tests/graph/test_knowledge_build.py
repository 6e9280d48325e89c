"""Building the knowledge graph over a real knowledge base, the model scripted
(``lore.testing.fakes.SCRIPTED``): every prose chunk is read once, a stopped run goes on
where it stopped, a changed chunk alone is read again, failures are counted and retried, and
``lore index --graph llm`` and ``lore graph --graph llm`` show and export the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import networkx
import pytest
from click.testing import CliRunner

import lore
from lore.cli import main
from lore.errors import GenerationError
from lore.testing.fakes import SCRIPTED

from .conftest import LIBRARY, MOUNTAINS

NAMES = ["Aletsch Glacier", "Rhone Glacier", "Swiss Alps", "Matterhorn", "Zermatt", "Geneva",
         "Ada Park", "cache sweeper", "University of Oslo", "Rust Programming", "Ben Lund"]
SUMMARY = "A group about one topic."


def extraction(line: str) -> str:
    """What the scripted model writes for a note: the names it holds, the first two linked
    (short: the scripted model's tokens are bytes, and a chunk's answer may take 192)."""
    named = [name for name in NAMES if name in line]
    relations = [f"relation: {named[0]} | near | {named[1]}"] if len(named) > 1 else []
    return "\n".join([f"entity: {name} | place" for name in named] + relations)


RELATIONS = len({extraction(line).splitlines()[-1] for line in MOUNTAINS + LIBRARY})


@pytest.fixture
def scripted() -> Iterator[None]:
    SCRIPTED.reset()
    for line in MOUNTAINS + LIBRARY:
        SCRIPTED.script(extraction(line), when=line)
    SCRIPTED.script(SUMMARY, when="In one or two sentences")
    yield
    SCRIPTED.reset()


def indexed(tmp_path: Path, corpus: Path) -> Path:
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
    return tmp_path / "kb"


def run(*args: str, code: int = 0) -> str:
    done = CliRunner().invoke(main, list(args))
    assert done.exit_code == code, done.output
    return done.output


def test_every_prose_chunk_is_read_once_into_a_graph_with_summaries(
        tmp_path: Path, corpus: Path, scripted: None) -> None:
    kb = indexed(tmp_path, corpus)
    with lore.open(kb) as base:
        plan = base.knowledge_plan("scripted")
        assert plan.calls == plan.chunks == 10
        assert plan.prompt_tokens > 0 and plan.estimated_seconds is None
        run_ = base.build_knowledge(plan)
        assert run_.extracted.calls == 10 and run_.failed == 0
        assert run_.summarised.calls >= 2
        knowledge, written = base.knowledge_graph()
        assert sorted(knowledge.names) == sorted(NAMES)
        assert set(written.values()) == {SUMMARY}
        again = base.knowledge_plan("scripted")
        assert again.calls == 0 and again.estimated_seconds is not None
        calls = len(SCRIPTED.asked)
        assert base.build_knowledge(again).summarised.calls == 0  # kept, not written again
        assert len(SCRIPTED.asked) == calls
        views = base.communities(kind="llm")
    mixed = [view for view in views
             if {"Zermatt", "Matterhorn", "Swiss Alps"} & set(view.summary.central)
             and {"Ada Park", "Ben Lund"} & set(view.summary.central)]
    assert views and not mixed
    assert all(view.kinds and set(view.kinds) == {"place"} for view in views)


def test_a_stopped_run_goes_on_from_the_last_chunk_read(tmp_path: Path, corpus: Path,
                                                       scripted: None) -> None:
    kb = indexed(tmp_path, corpus)

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with lore.open(kb) as base:
        with pytest.raises(KeyboardInterrupt):
            base.build_knowledge(base.knowledge_plan("scripted"), stop_after_three)
        rest = base.knowledge_plan("scripted")
        assert rest.calls == 7
        read = {prompt[-1].content for prompt in SCRIPTED.asked}
        assert not any(line in text for line in
                       [chunk.text for chunk in rest.pending] for text in read)
        assert base.build_knowledge(rest).extracted.calls == 7


def test_a_changed_note_alone_is_read_again_and_its_old_entities_leave(
        tmp_path: Path, corpus: Path, scripted: None) -> None:
    kb = indexed(tmp_path, corpus)
    with lore.open(kb) as base:
        base.build_knowledge(base.knowledge_plan("scripted"))
    (corpus / "oslo-4.md").write_text("# oslo 4\n\nBen Lund moved to Geneva.\n")
    SCRIPTED.script(extraction("Ben Lund Geneva"), when="Ben Lund moved to Geneva.")
    with lore.open(kb) as base:
        base.index([corpus])
        plan = base.knowledge_plan("scripted")
        assert [chunk.text for chunk in plan.pending] == ["# oslo 4\n\nBen Lund moved to Geneva."]
        base.build_knowledge(plan)
        knowledge, _ = base.knowledge_graph()
    ben, geneva = knowledge.names.index("Ben Lund"), knowledge.names.index("Geneva")
    assert (min(ben, geneva), max(ben, geneva)) in knowledge.relations
    park = knowledge.names.index("Ada Park")
    assert (min(ben, park), max(ben, park)) not in knowledge.relations  # said by the old note


def test_a_chunk_the_model_fails_is_counted_and_read_by_the_next_run(
        tmp_path: Path, corpus: Path) -> None:
    SCRIPTED.reset()
    try:
        for line in MOUNTAINS + LIBRARY[1:]:
            SCRIPTED.script(extraction(line), when=line)
        SCRIPTED.script(SUMMARY, when="In one or two sentences")
        kb = indexed(tmp_path, corpus)
        with lore.open(kb) as base:
            first = base.build_knowledge(base.knowledge_plan("scripted"))
            assert first.failed == 1 and first.extracted.calls == 9
            SCRIPTED.script(extraction(LIBRARY[0]), when=LIBRARY[0])
            second = base.build_knowledge(base.knowledge_plan("scripted"))
            assert second.failed == 0 and second.extracted.calls == 1
    finally:
        SCRIPTED.reset()


def test_a_model_that_fails_every_chunk_stops_the_run(tmp_path: Path, corpus: Path) -> None:
    SCRIPTED.reset()
    kb = indexed(tmp_path, corpus)
    with lore.open(kb) as base, pytest.raises(GenerationError):
        base.build_knowledge(base.knowledge_plan("scripted"))
    assert len(SCRIPTED.asked) == 3


def test_index_with_graph_llm_prints_the_cost_before_and_after(
        tmp_path: Path, corpus: Path, scripted: None) -> None:
    kb = str(tmp_path / "kb")
    shown = CliRunner().invoke(main, ["index", str(corpus), "--kb", kb, "--model", "hash",
                                      "--graph", "llm", "--graph-model", "scripted"])
    assert shown.exit_code == 0, shown.output
    assert "10 of 10 prose chunks to read: 10 model calls" in shown.output
    assert "10 chunks in" in shown.output and "11 entities" in shown.output
    report = json.loads(run("index", str(corpus), "--kb", kb, "--graph", "llm",
                            "--graph-model", "scripted", "--json"))
    assert report["knowledge"]["read"] == 0 and report["knowledge"]["chunks"] == 10
    assert report["knowledge"]["graph"]["entities"] == 11
    stats = json.loads(run("graph", "stats", "--kb", kb, "--graph", "llm", "--json"))
    assert stats["model_calls"] >= 12 and stats["relations"] == RELATIONS
    assert stats["chunks_read"] == 10
    status = json.loads(run("status", "--kb", kb, "--json"))
    assert status["knowledge"]["extractor"].startswith("scripted/")
    assert status["knowledge"]["model_calls"] == stats["model_calls"]
    assert "knowledge graph" in run("status", "--kb", kb)
    communities = json.loads(run("graph", "communities", "--kb", kb, "--graph", "llm",
                                 "--json"))
    assert {c["summary"] for c in communities if c["concepts"] >= 3} == {SUMMARY}
    assert "A group about one topic." in run("graph", "communities", "--kb", kb, "--graph",
                                             "llm")


def test_the_knowledge_graph_exports_with_types_and_relations(
        tmp_path: Path, corpus: Path, scripted: None) -> None:
    kb = indexed(tmp_path, corpus)
    run("index", str(corpus), "--kb", str(kb), "--graph", "llm", "--graph-model", "scripted")
    path = tmp_path / "knowledge.graphml"
    assert "entities" in run("graph", "export", str(path), "--kb", str(kb), "--graph", "llm")
    graph = networkx.read_graphml(path)
    names = {data["name"]: node for node, data in graph.nodes(data=True)}
    assert {"Ada Park", "Zermatt"} <= set(names) <= set(NAMES)  # the linked ones
    assert {data["type"] for _, data in graph.nodes(data=True)} == {"place"}
    edge = graph.edges[names["Ada Park"], names["cache sweeper"]]
    assert "Ada Park near cache sweeper" in edge["relations"]
    run("graph", "export", str(tmp_path / "k.json"), "--kb", str(kb), "--graph", "llm")
    linked = json.loads((tmp_path / "k.json").read_text())
    assert all("relations" in edge for edge in linked["edges"])


def test_asking_for_a_knowledge_graph_never_built_says_how_to_build_it(
        tmp_path: Path, corpus: Path) -> None:
    kb = indexed(tmp_path, corpus)
    output = run("graph", "stats", "--kb", str(kb), "--graph", "llm", code=2)
    assert "lore index PATH --graph llm" in output
    assert not (kb / "knowledge.db").exists()  # asking wrote nothing


def test_a_knowledge_base_of_code_alone_has_nothing_to_read(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([tmp_path / "src"])
        plan = base.knowledge_plan("scripted")
        assert plan.calls == plan.chunks == 0
        assert base.build_knowledge(plan).extracted.calls == 0
        knowledge, written = base.knowledge_graph()
    assert knowledge.facts()["nodes"] == 0 and written == {}
