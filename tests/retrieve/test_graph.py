"""The graph retriever: the retriever contract, and a walk that reaches the bridge chunk of a
two-hop question through a concept the question never names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lore
from lore.cli import main
from lore.config import LoreConfig
from lore.errors import StoreError
from lore.graph import build as graph_build
from lore.graph import communities
from lore.graph.build import build_graph
from lore.pipeline import SilentListener
from lore.retrieve.graph import Walk
from lore.store.concepts import ConceptIndex
from lore.store.derived import ConceptFeed
from lore.store.sqlite import SqliteStore
from lore.store.tagging import tag_in_order
from lore.testing.retriever_contract import Build, RetrieverContract

from .conftest import builder

FILES = {
    "sweeper.md": "# Sweeper history\n\nThe cache sweeper was written by Ada Park in 2019.\n",
    "park.md": "# Ada Park\n\nAda Park was born in Oslo and studied chemistry.\n",
    "bread.md": "# Sourdough\n\nSourdough bread rises slowly in a warm kitchen.\n",
    "ice.md": "# Glaciers\n\nGlaciers carve deep valleys in the Swiss Alps.\n",
}
QUESTION = "Where was the author of the cache sweeper born?"


class TestGraphRetriever(RetrieverContract):
    @pytest.fixture
    def build(self, tmp_path: Path, stores: list[SqliteStore]) -> Build:
        return builder(tmp_path, stores, "graph")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text)
    return folder


def test_the_walk_reaches_the_chunk_that_names_the_bridge_concept(tmp_path: Path,
                                                                   corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
        hits = kb.search(QUESTION, k=4, retrievers=["graph"], rerank="")
    assert [Path(hit.path).name for hit in hits] == ["sweeper.md", "park.md"]
    assert hits[0].ranks == {"graph": 1} and hits[1].scores["graph"] > 0


def test_the_graph_fuses_with_the_other_retrievers(tmp_path: Path, corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
        hits = kb.search(QUESTION, k=2, retrievers=["lexical", "dense", "graph"], rerank="")
    assert {Path(hit.path).name for hit in hits} == {"sweeper.md", "park.md"}
    assert all("graph" in hit.ranks for hit in hits)


def test_the_concept_index_is_saved_with_the_index_and_follows_the_store(tmp_path: Path,
                                                                    corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
        assert (kb.status().concept_bytes or 0) > 0  # built with the index
        assert kb.search(QUESTION, k=4, retrievers=["graph"], rerank="")
        (corpus / "sweeper.md").unlink()
        kb.index([corpus])
        left = kb.search(QUESTION, k=4, retrievers=["graph"], rerank="")
        assert "sweeper.md" not in {Path(hit.path).name for hit in left}
    assert (tmp_path / "kb" / "index" / "concepts" / "CURRENT").exists()
    (corpus / "sweeper-notes.md").write_text(FILES["sweeper.md"])
    with lore.open(tmp_path / "kb", model="hash") as kb:  # loaded from disk, caught up
        kb.index([corpus])
        names = [Path(h.path).name for h in kb.search(QUESTION, k=4, retrievers=["graph"],
                                                      rerank="")]
    assert names == ["sweeper-notes.md", "park.md"]


def test_a_concept_in_very_many_chunks_links_nothing() -> None:
    index = ConceptIndex()
    index.add(range(100), [["common thing", f"name {n}"] for n in range(100)])
    _, incidence = index.matrix()
    seeds = index.matching("common thing")
    assert seeds and not Walk.over(incidence).run(seeds).any()


def test_the_index_saves_and_loads_what_it_holds(tmp_path: Path) -> None:
    index = ConceptIndex()
    index.add([3, 9], [["ada park", "oslo"], ["oslo"]])
    index.remove(np.array([3]))
    index.save(tmp_path)
    loaded = ConceptIndex.load(tmp_path)
    keys, incidence = loaded.matrix()
    assert keys.tolist() == [9] and incidence.sum() == 1
    assert loaded.matching("Oslo") == {loaded.names.index("oslo"): 1.0}


def test_the_graph_built_from_blocks_of_rows_is_the_whole_matrix_graph(
        monkeypatch: pytest.MonkeyPatch) -> None:
    index = ConceptIndex()
    topics = [[f"{topic} {(n + shift) % 6}" for shift in (0, 1, 3)]
              for topic in ("glacier", "bread") for n in range(20)]
    index.add(range(40, 0, -1), topics)  # out of key order: merged, sorted
    index.remove(np.array([7]))
    keys, whole = index.matrix()
    rows = index.incidence()
    assert rows.shape == whole.shape
    assert (rows[5:17] != whole[5:17]).nnz == 0 and rows[30:99].shape == (9, whole.shape[1])
    monkeypatch.setattr(graph_build, "BLOCK_CHUNKS", 7)
    monkeypatch.setattr(communities, "PLACE_BLOCK", 5)
    graph, expected = index.graph(), build_graph(keys, whole, index.names)
    assert (graph.adjacency != expected.adjacency).nnz == 0 and graph.adjacency.nnz
    assert graph.concepts.tolist() == expected.concepts.tolist()
    assert graph.communities.chunk_leaf.tolist() == expected.communities.chunk_leaf.tolist()
    assert graph.chunk_keys.tolist() == keys.tolist()


def test_a_chunk_given_concepts_again_keeps_only_the_last() -> None:
    index = ConceptIndex()
    index.add([9, 3], [["oslo"], ["ada park", "oslo"]])
    index.add([9], [["bergen"]])
    assert len(index) == 2 and index.names == ["oslo", "ada park", "bergen"]
    assert [index.names[i] for i in index.concepts_of(9)] == ["bergen"]
    index.remove(np.array([3, 40]))
    index.add([3], [["geneva"]])
    keys, incidence = index.matrix()
    assert keys.tolist() == [3, 9] and incidence.sum() == 2
    assert index.chunks_with(index.names.index("oslo")).tolist() == []
    assert index.concepts_of(40).tolist() == []


def test_tagging_in_several_processes_gives_the_same_index(tmp_path: Path,
                                                           corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
    store = SqliteStore(tmp_path / "kb" / "lore.db")
    try:
        indexes = []
        for workers in (1, 2):
            index = ConceptIndex()
            feed = ConceptFeed(store, workers=workers, parallel_from=0)
            feed.BATCH = 1  # a batch per chunk, so both processes get some
            feed.fill(index, None)
            indexes.append(index)
    finally:
        store.close()
    one, two = (([index.names[i] for i in index.concepts_of(key)] for key in index.matrix()[0])
                for index in indexes)
    assert list(one) == list(two)
    assert indexes[0].matrix()[0].tolist() == indexes[1].matrix()[0].tolist()
    assert indexes[1].names, "the corpus names concepts"


def tagging_children() -> list[str]:
    pids = [pid for children in Path("/proc/self/task").glob("*/children")
            for pid in children.read_text().split()]
    return [pid for pid in pids if b"lore.store.tagging_process" in command_line(pid)]


def command_line(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it ended meanwhile
        return b""


def test_a_stopped_tagging_run_leaves_no_process_behind() -> None:
    batches = (((n,), [("Ada Park", "Ada Park was born in Oslo.")]) for n in range(50))
    tagged = tag_in_order(batches, workers=2)
    first, found = next(tagged)
    assert first == (0,) and found == [["ada park", "oslo"]]
    assert len(tagging_children()) == 2
    tagged.close()  # as when the run is interrupted
    assert tagging_children() == []


def test_a_failure_in_a_tagging_process_is_reported_with_its_cause() -> None:
    batches = [((0,), [("Ada Park", "Ada Park was born in Oslo.")]), ((1,), [("", None)])]
    with pytest.raises(StoreError, match="(?s)tagging concepts failed.*TypeError"):
        list(tag_in_order(batches, workers=2))  # type: ignore[arg-type]
    assert tagging_children() == []


def test_a_script_without_a_main_guard_indexes_on_several_cores(tmp_path: Path) -> None:
    """The tagging processes never import the caller's script again (as ``multiprocessing``'s
    ``spawn`` would, running its index call once more in each)."""
    corpus = tmp_path / "people.jsonl"
    corpus.write_text("".join(json.dumps({"_id": str(n), "title": f"Person {n}",
                                          "text": f"Ada Park met Ben Lund in Oslo, year {n}."})
                              + "\n" for n in range(2_100)))
    script = tmp_path / "index_people.py"
    script.write_text("import lore\n"
                      f"with lore.open({str(tmp_path / 'kb')!r}, model='hash') as kb:\n"
                      f"    kb.index([{str(corpus)!r}])\n"
                      "    print(kb.status().chunks)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env={**os.environ, "LORE_CONCEPT_WORKERS": "2"}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2100"]
    with lore.open(tmp_path / "kb") as kb:
        hits = kb.search("Ben Lund", k=3, retrievers=["graph"], rerank="")
    assert hits


def test_lore_search_takes_the_retrievers_to_fuse(tmp_path: Path, corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
    runner = CliRunner()
    done = runner.invoke(main, ["search", QUESTION, "--kb", str(tmp_path / "kb"),
                                "--retrievers", "lexical,graph", "--json"])
    assert done.exit_code == 0, done.output
    hits = json.loads(done.output)["hits"]
    assert hits and all(set(hit["ranks"]) <= {"lexical", "graph"} for hit in hits)
    refused = runner.invoke(main, ["search", QUESTION, "--kb", str(tmp_path / "kb"),
                                   "--retrievers", "graf"])
    assert refused.exit_code != 0 and "unknown retriever graf" in refused.output


class Recording(SilentListener):
    def __init__(self) -> None:
        self.concepts: list[tuple[int, int]] = []

    def on_concepts(self, done: int, total: int) -> None:
        self.concepts.append((done, total))


def test_indexing_reports_the_concepts_it_reads(tmp_path: Path, corpus: Path) -> None:
    listener = Recording()
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus], listener)
        chunks = kb.status().chunks
    assert listener.concepts and listener.concepts[-1] == (chunks, chunks)


def test_concepts_on_first_use_wait_for_the_first_walk(tmp_path: Path, corpus: Path) -> None:
    config = LoreConfig()
    config = replace(config, index=replace(config.index, concepts="first-use"))
    with lore.open(tmp_path / "kb", model="hash", config=config) as kb:
        kb.index([corpus])
        assert kb.status().concept_bytes in (None, 0)  # not derived by the index run
        hits = kb.search(QUESTION, k=4, retrievers=["graph"], rerank="")
    assert [Path(hit.path).name for hit in hits] == ["sweeper.md", "park.md"]


def test_a_copy_saved_before_the_columns_still_loads(tmp_path: Path) -> None:
    index = ConceptIndex()
    index.add([3, 9], [["ada park", "oslo"], ["oslo"]])
    index.save(tmp_path)
    keys, sizes, ids = (np.load(tmp_path / f"{name}.npy") for name in ("keys", "sizes", "ids"))
    for name in ("keys", "sizes", "ids"):
        (tmp_path / f"{name}.npy").unlink()
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    np.savez(tmp_path / "chunks.npz", keys=keys, offsets=offsets, ids=ids)
    loaded = ConceptIndex.load(tmp_path)
    assert [loaded.names[i] for i in loaded.concepts_of(3)] == ["ada park", "oslo"]
    assert loaded.chunks_with(loaded.names.index("oslo")).tolist() == [3, 9]
