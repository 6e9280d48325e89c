"""The concept graph: pruning, weights, Leiden communities over known groups, determinism, and
the saved copy."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sparse

from lore.graph import build as graph_build
from lore.graph import communities
from lore.graph.build import GraphSettings, build_graph
from lore.graph.model import Graph, saved_facts


def incidence(chunks: list[list[str]], names: list[str] | None = None
              ) -> tuple[sparse.csr_matrix, list[str]]:
    names = names or list(dict.fromkeys(name for chunk in chunks for name in chunk))
    ids = {name: number for number, name in enumerate(names)}
    rows = [row for row, chunk in enumerate(chunks) for _ in chunk]
    cols = [ids[name] for chunk in chunks for name in chunk]
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                               shape=(len(chunks), len(names)))
    return matrix, names


def two_topics(per_topic: int = 12) -> list[list[str]]:
    """Chunks about glaciers and chunks about bread: each mentions three of its topic's six
    concepts, and nothing of the other topic."""
    chunks = []
    for topic in ("glacier", "bread"):
        words = [f"{topic} {n}" for n in range(6)]
        chunks += [[words[n % 6], words[(n + 1) % 6], words[(n + 3) % 6]]
                   for n in range(per_topic)]
    return chunks


def build(chunks: list[list[str]], settings: GraphSettings | None = None,
          names: list[str] | None = None) -> tuple[Graph, list[str]]:
    matrix, names = incidence(chunks, names)
    return build_graph(np.arange(len(chunks)) + 100, matrix, names, settings), names


def test_chunks_of_two_topics_fall_into_two_communities() -> None:
    graph, names = build(two_topics(), GraphSettings(resolution=1.0))
    communities = graph.communities
    top = communities.at_level(0)
    assert len(top) == 2 and communities.modularity > 0.3
    placed = communities.chunk_leaf
    assert (placed >= 0).all()
    assert len(set(placed[:12].tolist())) == 1 and len(set(placed[12:].tolist())) == 1
    assert placed[0] != placed[12]
    for community in top:
        topics = {names[int(graph.concepts[node])].split()[0]
                  for node in communities.nodes(int(community))}
        assert len(topics) == 1


def test_the_same_chunks_give_the_same_graph_whatever_the_concept_ids() -> None:
    chunks = two_topics()
    first, names = build(chunks)
    shuffled = list(reversed(names))
    second, _ = build(chunks, names=shuffled)
    assert ([names[int(c)] for c in first.concepts]
            == [shuffled[int(c)] for c in second.concepts])
    assert (first.communities.node_leaf == second.communities.node_leaf).all()
    assert (first.adjacency != second.adjacency).nnz == 0


@pytest.mark.parametrize("parts", [
    {"BLOCK_CHUNKS": 7, "PLACE_BLOCK": 5},  # a few chunks at a time
    {"RANGE_PAIRS": 5, "BLOCK_CHUNKS": 7},  # and a range of concepts at a time
])
def test_counting_in_parts_gives_the_same_graph(monkeypatch: pytest.MonkeyPatch,
                                                 parts: dict[str, int]) -> None:
    whole, names = build(two_topics(40), GraphSettings(resolution=1.0))
    for name, value in parts.items():
        monkeypatch.setattr(communities if name == "PLACE_BLOCK" else graph_build, name, value)
    counted, _ = build(two_topics(40), GraphSettings(resolution=1.0), names)
    assert (counted.adjacency != whole.adjacency).nnz == 0
    assert counted.communities.node_leaf.tolist() == whole.communities.node_leaf.tolist()
    assert counted.communities.chunk_leaf.tolist() == whole.communities.chunk_leaf.tolist()
    assert (counted.communities.chunk_leaf >= 0).all()


def named_links(graph: Graph, names: list[str]) -> dict[tuple[str, str], float]:
    coo = graph.adjacency.tocoo()
    return {(names[int(graph.concepts[row])], names[int(graph.concepts[col])]): float(weight)
            for row, col, weight in zip(coo.row, coo.col, coo.data, strict=True)}


def random_chunks(seed: int) -> list[list[str]]:
    """Chunks naming a few of 40 concepts, the low-numbered far more often: links of many
    weights, and many ties."""
    rng = np.random.default_rng(seed)
    return [sorted({f"concept {int(n)}" for n in rng.zipf(1.6, size=4) if n <= 40})
            for _ in range(300)]


@pytest.mark.parametrize("weighting", ["count", "pmi"])
def test_past_the_cap_the_heaviest_links_are_kept_however_they_are_counted(
        monkeypatch: pytest.MonkeyPatch, weighting: str) -> None:
    settings = GraphSettings(min_common=1, max_share=1.0, weighting=weighting,  # type: ignore[arg-type]
                             min_weight=0.0 if weighting == "pmi" else 1.0)
    for seed in range(3):
        chunks = random_chunks(seed)
        whole, names = build(chunks, settings)
        every = named_links(whole, names)
        for cap in (3, 10, 25):
            weights = sorted(set(every.values()), reverse=True)
            # The heaviest weight more than ``cap`` links reach; those heavier are kept.
            bar = next(w for w in weights if sum(v >= w for v in every.values()) > 2 * cap)
            expected = {pair: w for pair, w in every.items() if w > bar}
            for budget in (1, 7, 10**9):  # a row, a few rows, every row at a time
                monkeypatch.setattr(graph_build, "RANGE_PAIRS", budget)
                capped, _ = build(chunks, replace(settings, max_links=cap), names)
                assert named_links(capped, names) == expected
                assert capped.edges <= cap
                assert capped.links_dropped == whole.edges - len(expected) // 2
            assert whole.links_dropped == 0


def test_rare_and_very_common_concepts_are_left_out() -> None:
    chunks = [[*chunk, "everywhere"] for chunk in two_topics()]
    chunks[0].append("only once")
    settings = GraphSettings(min_common=5, max_share=0.5)
    graph, names = build(chunks, settings)
    kept = {names[int(c)] for c in graph.concepts}
    assert "only once" not in kept and "everywhere" not in kept and "glacier 0" in kept
    graph, names = build(chunks, replace(settings, max_share=1.0))
    assert "everywhere" in {names[int(c)] for c in graph.concepts}


def test_links_are_weighted_by_shared_chunks_or_by_pmi() -> None:
    chunks = [["a x", "b y"], ["a x", "b y"], ["a x", "c z"], ["c z", "d w"], ["c z", "d w"]]
    counted, names = build(chunks, GraphSettings(min_common=1, max_share=1.0))
    a, b = (list(counted.concepts).index(names.index(n)) for n in ("a x", "b y"))
    assert counted.adjacency[a, b] == 2
    pmi, _ = build(chunks, GraphSettings(min_common=1, max_share=1.0, weighting="pmi",
                                         min_weight=0.0))
    # a x in 3 of the 5 chunks, b y in 2, together in 2.
    assert math.isclose(pmi.adjacency[a, b], math.log(2 * 5 / (3 * 2)), rel_tol=1e-6)
    c = list(pmi.concepts).index(names.index("c z"))
    assert pmi.adjacency[a, c] == 0  # in 1 chunk of 5, against 3 * 3 / 5 by chance
    weak, _ = build(chunks, GraphSettings(min_common=1, max_share=1.0, min_weight=2.0))
    assert weak.edges == 2


def test_a_community_too_large_is_split_a_level_down() -> None:
    chunks = []
    for topic in range(4):  # four dense topics bridged in a chain
        words = [f"topic{topic} {n}" for n in range(8)]
        chunks += [[words[n], words[(n + 1) % 8], words[(n + 2) % 8]] for n in range(8)]
    for n in range(3):
        chunks += [[f"topic0 {n}", f"topic1 {n}"], [f"topic2 {n}", f"topic3 {n}"],
                   [f"topic1 {n + 4}", f"topic2 {n + 4}"]]
    # So coarse a resolution finds two halves; each half is split at a finer one.
    graph, _ = build(chunks, GraphSettings(resolution=0.1, max_community=10))
    communities = graph.communities
    assert communities.levels == 2
    for community in communities.at_level(0):
        children = communities.children(int(community))
        if len(communities.nodes(int(community))) > 10:
            assert len(children) >= 2
            assert set(communities.within(int(community))) == {int(community), *children}
            rows = set(communities.chunk_rows(int(community)).tolist())
            assert rows == {row for child in children
                            for row in communities.chunk_rows(child).tolist()}


def test_a_graph_with_no_links_has_no_communities() -> None:
    graph, _ = build([["alone a"], ["alone b"], []])
    assert len(graph.concepts) == 0 and len(graph.communities) == 0
    assert graph.communities.chunk_leaf.tolist() == [-1, -1, -1]
    empty, _ = build([])
    assert empty.facts()["chunks"] == 0


def test_the_graph_saves_and_loads(tmp_path: Path) -> None:
    graph, _ = build(two_topics(), GraphSettings(max_links=10))
    assert graph.links_dropped > 0
    graph.save(tmp_path)
    loaded = Graph.load(tmp_path, graph.settings)
    assert loaded is not None
    assert Graph.load(tmp_path, "other settings") is None  # rebuilt, not read
    assert (loaded.adjacency != graph.adjacency).nnz == 0
    assert loaded.communities.chunk_leaf.tolist() == graph.communities.chunk_leaf.tolist()
    assert loaded.chunk_keys.tolist() == list(range(100, 124))
    assert saved_facts(tmp_path) == graph.facts()
    assert loaded.links_dropped == graph.links_dropped
    assert Graph.load(tmp_path / "missing", graph.settings) is None
