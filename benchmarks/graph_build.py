"""The concept graph's pruning, weighting and communities, against groups known in advance.

    python benchmarks/graph_build.py --part first       # SQuAD dev's first 24 articles: choose
    python benchmarks/graph_build.py --part second      # the other 24: confirm
    python benchmarks/graph_build.py --leidenalg        # also leidenalg (pip install leidenalg)

Each paragraph is a chunk, its concepts read from its text alone (never its title: the title
is the group). A good graph puts the paragraphs of one article in one community: the table
gives, per setting, the graph's size, its top-level communities and their modularity, the
share of paragraphs placed in a community at all, the normalised mutual information between
the top-level community and the article (unplaced paragraphs count as one more community),
the leaf communities' purity (the share of their paragraphs from their commonest article),
and the time to build. Writes ``results/graph_build.json``, one entry per set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sparse
from common import machine
from rich.console import Console
from rich.table import Table
from sklearn.metrics import normalized_mutual_info_score

from lore.graph.build import GraphSettings, build_graph
from lore.graph.communities import detect
from lore.graph.model import Graph
from lore.text.concepts import concepts

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"squad": "squad-v1.1-dev", "cmrc2018": "cmrc2018-dev"}
"""CMRC 2018's 848 paragraphs come from 847 articles: no groups to find, only the graph's size
and time to build (Chinese concepts come from jieba's tagger)."""
PARTS = ("all", "first", "second")
RESULTS = Path(__file__).resolve().parent / "results"
BASE = GraphSettings()
VARIANTS = {
    "default": BASE,
    "share 0.01": replace(BASE, max_share=0.01),
    "share 0.05": replace(BASE, max_share=0.05),
    "no cut": replace(BASE, max_share=1.0),
    "weight >= 2": replace(BASE, min_weight=2.0),
    "pmi": replace(BASE, weighting="pmi", min_weight=0.0),
    "pmi >= 1": replace(BASE, weighting="pmi", min_weight=1.0),
    "resolution 0.5": replace(BASE, resolution=0.5),
    "resolution 1": replace(BASE, resolution=1.0),
    "resolution 4": replace(BASE, resolution=4.0),
    "max community 30": replace(BASE, max_community=30),
    "max community 300": replace(BASE, max_community=300),
}


def read(name: str, part: str) -> tuple[list[str], list[list[str]], float]:
    """Each paragraph's article, its concepts, and the seconds extraction took. ``part``
    takes the first or second half of the articles, in file order."""
    with open(DATA / SETS[name] / "corpus.jsonl") as handle:
        records = [json.loads(line) for line in handle]
    titles = list(dict.fromkeys(record["title"] for record in records))
    half = set(titles[:len(titles) // 2] if part == "first" else
               titles[len(titles) // 2:] if part == "second" else titles)
    records = [record for record in records if record["title"] in half]
    started = time.perf_counter()
    found = [concepts(record["text"]) for record in records]
    return [record["title"] for record in records], found, time.perf_counter() - started


def incidence(found: list[list[str]]) -> tuple[sparse.csr_matrix, list[str]]:
    ids: dict[str, int] = {}
    rows, cols = [], []
    for row, names in enumerate(found):
        for name in names:
            rows.append(row)
            cols.append(ids.setdefault(name, len(ids)))
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                               shape=(len(found), len(ids)))
    return matrix, list(ids)


def scores(graph: Graph, groups: list[str]) -> dict[str, float]:
    communities = graph.communities
    leaf = communities.chunk_leaf
    top = np.array([_top(communities.parent, int(at)) for at in leaf])
    leaves = Counter(int(at) for at in leaf if at >= 0)
    purity = sum(Counter(groups[row] for row in np.flatnonzero(leaf == at)).most_common(1)[0][1]
                 for at in leaves) / max(1, sum(leaves.values()))
    return {"placed": float((leaf >= 0).mean()),
            "nmi_top": float(normalized_mutual_info_score(groups, top)),
            "leaf_purity": purity, "leaves": float(len(leaves))}


def _top(parent: np.ndarray, community: int) -> int:
    while community >= 0 and parent[community] >= 0:
        community = int(parent[community])
    return community


def leiden_rows(graph: Graph) -> dict[str, dict[str, float]]:
    """The top level by graspologic-native (lore's) and leidenalg at the same resolution:
    seconds, communities, and modularity (at resolution 1, by igraph, for both)."""
    import igraph
    import leidenalg

    upper = sparse.triu(graph.adjacency).tocoo()
    edges = list(zip(upper.row.tolist(), upper.col.tolist(), strict=True))
    network = igraph.Graph(n=graph.adjacency.shape[0], edges=edges,
                           edge_attrs={"weight": upper.data.tolist()})
    started = time.perf_counter()
    partition = leidenalg.find_partition(network, leidenalg.RBConfigurationVertexPartition,
                                         weights="weight", seed=BASE.seed,
                                         resolution_parameter=BASE.resolution)
    seconds = time.perf_counter() - started
    communities = graph.communities
    ours = [_top(communities.parent, int(leaf)) for leaf in communities.node_leaf]
    started = time.perf_counter()
    detect(graph.adjacency, sparse.csr_matrix((0, len(ours))), len(ours), 1, BASE.resolution,
           BASE.seed)
    return {"graspologic-native": {"seconds": time.perf_counter() - started,
                                   "communities": len(set(ours)),
                                   "modularity": network.modularity(ours, weights="weight")},
            "leidenalg": {"seconds": seconds, "communities": len(partition),
                          "modularity": network.modularity(partition.membership,
                                                           weights="weight")}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="squad", choices=sorted(SETS))
    parser.add_argument("--part", default="all", choices=PARTS)
    parser.add_argument("--leidenalg", action="store_true")
    args = parser.parse_args()
    groups, found, extraction = read(args.set, args.part)
    matrix, names = incidence(found)
    keys = np.arange(len(found))
    rows: dict[str, dict[str, object]] = {}
    table = Table("setting", "nodes", "edges", "top", "levels", "modularity", "placed",
                  "NMI top", "leaf purity", "leaves", "seconds",
                  title=f"{args.set} ({args.part}): {len(found)} paragraphs, "
                        f"{len(set(groups))} articles")
    for label, settings in VARIANTS.items():
        graph = build_graph(keys, matrix, names, settings)
        facts, quality = graph.facts(), scores(graph, groups)
        rows[label] = {"settings": asdict(settings), **facts, **quality}
        table.add_row(label, str(facts["nodes"]), str(facts["edges"]),
                      str(facts["top_communities"]), str(facts["levels"]),
                      f"{facts['modularity']:.3f}", f"{quality['placed']:.3f}",
                      f"{quality['nmi_top']:.3f}", f"{quality['leaf_purity']:.3f}",
                      f"{quality['leaves']:.0f}", f"{graph.seconds:.2f}")
    Console().print(table)
    print(f"concepts read from {len(found)} paragraphs in {extraction:.1f} s")
    result: dict[str, object] = {"paragraphs": len(found), "articles": len(set(groups)),
                                 "extraction_seconds": extraction, "runs": rows}
    if args.leidenalg:
        result["leiden"] = leiden_rows(build_graph(keys, matrix, names, BASE))
        print(json.dumps(result["leiden"], indent=2))
    path = RESULTS / "graph_build.json"
    kept = json.loads(path.read_text())["sets"] if path.exists() else {}
    kept[f"{args.set}:{args.part}"] = result
    path.write_text(json.dumps({"machine": machine(), "sets": kept}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
