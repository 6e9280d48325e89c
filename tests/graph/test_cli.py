"""``lore graph`` over a real knowledge base: the graph is built with the index, follows its
changes, is the same for the same files, and exports to files networkx reads back."""

from __future__ import annotations

import json
from pathlib import Path

import networkx
import pytest
from click.testing import CliRunner

import lore
from lore.cli import main


def run(*args: str) -> str:
    done = CliRunner().invoke(main, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def indexed(tmp_path: Path, corpus: Path, name: str = "kb") -> Path:
    with lore.open(tmp_path / name, model="hash") as kb:
        kb.index([corpus])
    return tmp_path / name


def topics_of(kb: Path) -> list[set[str]]:
    found = json.loads(run("graph", "communities", "--kb", str(kb), "--json"))
    return [{concept.split()[-1] for concept in community["central"]} for community in found]


def test_the_graph_is_built_with_the_index_and_holds_each_topic_apart(tmp_path: Path,
                                                                     corpus: Path) -> None:
    kb = indexed(tmp_path, corpus)
    with lore.open(kb) as base:
        state = base.status()
    assert state.graph is not None and state.graph["nodes"] > 0
    assert state.graph["top_communities"] >= 2
    stats = json.loads(run("graph", "stats", "--kb", str(kb), "--json"))
    assert stats["nodes"] == state.graph["nodes"] and stats["chunks_placed"] > 0
    communities = json.loads(run("graph", "communities", "--kb", str(kb), "--json"))
    mixed = [c for c in communities
             if {"glacier", "matterhorn", "alps", "zermatt"} & {w for n in c["central"]
                                                                for w in n.split()}
             and {"park", "sweeper", "oslo"} & {w for n in c["central"] for w in n.split()}]
    assert not mixed
    assert all(c["documents"] for c in communities if c["chunks"])
    assert "glacier" in run("graph", "communities", "--kb", str(kb)).lower()


def test_the_same_files_give_the_same_communities(tmp_path: Path, corpus: Path) -> None:
    first = json.loads(run("graph", "communities", "--kb", str(indexed(tmp_path, corpus, "a")),
                           "--json"))
    second = json.loads(run("graph", "communities", "--kb", str(indexed(tmp_path, corpus, "b")),
                            "--json"))
    assert first == second


def test_the_graph_follows_the_documents(tmp_path: Path, corpus: Path) -> None:
    kb = indexed(tmp_path, corpus)
    for path in corpus.glob("alps-*.md"):
        path.unlink()
    with lore.open(kb) as base:
        base.index([corpus])
        names = {n for view in base.communities() for n in view.summary.central}
    assert names and not any("glacier" in name for name in names)


@pytest.mark.parametrize("suffix", ["graphml", "json"])
def test_the_export_opens_in_networkx(tmp_path: Path, corpus: Path, suffix: str) -> None:
    kb = indexed(tmp_path, corpus)
    path = tmp_path / f"concepts.{suffix}"
    shown = json.loads(run("graph", "export", str(path), "--kb", str(kb), "--json"))
    if suffix == "graphml":
        graph = networkx.read_graphml(path)
    else:
        graph = networkx.node_link_graph(json.loads(path.read_text()), edges="edges")
    assert graph.number_of_nodes() == shown["nodes"] > 0
    assert graph.number_of_edges() == shown["edges"] > 0
    names = {data["name"] for _, data in graph.nodes(data=True)}
    assert "aletsch glacier" in names
    assert all("community_0" in data for _, data in graph.nodes(data=True))


def test_an_unknown_export_suffix_says_how_to_name_it(tmp_path: Path, corpus: Path) -> None:
    kb = indexed(tmp_path, corpus)
    done = CliRunner().invoke(main, ["graph", "export", str(tmp_path / "g.txt"), "--kb",
                                     str(kb)])
    assert done.exit_code == 2 and "--format graphml|json" in done.output


def test_a_knowledge_base_with_no_concepts_has_an_empty_graph(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.md").write_text("all of it is here and there.\n")
    kb = indexed(tmp_path, folder)
    stats = json.loads(run("graph", "stats", "--kb", str(kb), "--json"))
    assert stats["nodes"] == 0 and stats["communities"] == 0
    assert "no communities at level 0" in run("graph", "communities", "--kb", str(kb))
    run("graph", "export", str(tmp_path / "empty.graphml"), "--kb", str(kb))
    assert networkx.read_graphml(tmp_path / "empty.graphml").number_of_nodes() == 0


def test_an_empty_knowledge_base_has_an_empty_graph(tmp_path: Path) -> None:
    with lore.open(tmp_path / "empty", model="hash"):
        pass
    stats = json.loads(run("graph", "stats", "--kb", str(tmp_path / "empty"), "--json"))
    assert stats["chunks"] == stats["nodes"] == stats["communities"] == 0
