"""The model-built knowledge graph (``lore index --graph llm``) as values: what a model's
extraction from one chunk says (``parse_extraction``), and the graph merged from every
chunk's (``build_knowledge_graph``), in the same ``Graph`` form as the concept graph so
its communities, reports and export are shared.

A model writes one line per entity or relation::

    entity: Ada Park | person
    relation: Ada Park | wrote | cache sweeper

Small models name things the text does not say; a name is kept only when the chunk contains
it (compared casefolded, spaces collapsed), and a relation only when both its ends are kept.
Entities are merged across chunks by their normalised name; the type most often given wins.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

from lore.graph.build import GraphSettings, settings_digest
from lore.graph.communities import detect
from lore.graph.model import Graph

ENTITY_KINDS = ("person", "organisation", "place", "event", "work", "product", "concept",
                "date")
"""The types the prompt offers; any other a model writes is kept as ``other``."""
MAX_NAME_CHARS = 80
MAX_NAME_WORDS = 8
"""Longer "names" are clauses copied from the text, not things."""
MAX_LABEL_WORDS = 6
_LINE = re.compile(r"^\s*[-*\d.]*\s*(entity|relation|实体|关系)\s*[:：]\s*(.+)$", re.IGNORECASE)
_FIELDS = re.compile(r"\s*[|｜]\s*")
_SPACE = re.compile(r"\s+")
_EDGE_PUNCTUATION = "\"'“”‘’«»「」『』《》()（）[]【】.,;:，。；：、!?！？ "
_ARTICLE = re.compile(r"^(the|a|an)\s+")


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class Relation:
    source: str
    label: str
    target: str


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one chunk's extraction holds once checked against the chunk's text."""

    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]
    dropped: int
    """Lines naming something the text does not contain, or not in the format."""


def normalised(name: str) -> str:
    """The key entities merge by: NFKC, casefolded, spaces collapsed, edge punctuation and
    a leading English article removed."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()
    text = _ARTICLE.sub("", text.strip(_EDGE_PUNCTUATION))
    return text.strip(_EDGE_PUNCTUATION)


def parse_extraction(written: str, chunk_text: str) -> Extraction:
    """The entities and relations of a model's lines that the chunk's text supports."""
    haystack = _SPACE.sub(" ", unicodedata.normalize("NFKC", chunk_text).casefold())
    entities: dict[str, Entity] = {}
    relations: dict[tuple[str, str, str], Relation] = {}
    dropped = 0
    for line in written.splitlines():
        match = _LINE.match(line)
        if match is None:
            dropped += bool(line.strip())
            continue
        fields = [field.strip(_EDGE_PUNCTUATION) for field in _FIELDS.split(match[2].strip())]
        if match[1].lower() in ("entity", "实体") and len(fields) >= 1 \
                and _supported(fields[0], haystack):
            kind = fields[1].casefold() if len(fields) > 1 else "other"
            entities.setdefault(normalised(fields[0]),
                                Entity(fields[0], kind if kind in ENTITY_KINDS else "other"))
        elif match[1].lower() in ("relation", "关系") and len(fields) == 3 \
                and _supported(fields[0], haystack) and _supported(fields[2], haystack) \
                and _label(fields[1]):
            source, target = normalised(fields[0]), normalised(fields[2])
            if source == target:
                dropped += 1
                continue
            for name in (fields[0], fields[2]):
                entities.setdefault(normalised(name), Entity(name, "other"))
            relations.setdefault((source, _label(fields[1]), target),
                                 Relation(fields[0], _label(fields[1]), fields[2]))
        else:
            dropped += 1
    return Extraction(tuple(entities.values()), tuple(relations.values()), dropped)


def _supported(name: str, haystack: str) -> bool:
    key = _SPACE.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()
    return bool(key) and len(key) <= MAX_NAME_CHARS and len(key.split()) <= MAX_NAME_WORDS \
        and key in haystack


def _label(text: str) -> str:
    label = _SPACE.sub(" ", text.casefold()).strip(_EDGE_PUNCTUATION)
    return label if label and len(label.split()) <= MAX_LABEL_WORDS else ""


@dataclass(frozen=True)
class KnowledgeGraph:
    """Entities linked by the relations the model found, with communities. ``graph``'s
    nodes are entity ids (positions in ``names``), so everything that reads a concept
    graph with its names reads this one too."""

    graph: Graph
    names: list[str]
    """Each entity's name as first written."""
    kinds: list[str]
    relations: dict[tuple[int, int], tuple[str, ...]]
    """(lower node, higher node): the relations stated between them, most stated first,
    each as ``source label target`` with the names as written."""
    chunks_read: int
    dropped: int

    def facts(self) -> dict[str, float | int]:
        stated = sum(len(labels) for labels in self.relations.values())
        return {**self.graph.facts(), "entities": len(self.names), "relations": stated,
                "chunks_read": self.chunks_read, "lines_dropped": self.dropped}


def build_knowledge_graph(extractions: Mapping[int, Extraction],
                          settings: GraphSettings | None = None) -> KnowledgeGraph:
    """The graph of the chunks (by rowid) whose extractions are given: an entity is a node
    when a relation links it; two nodes are linked by the chunks stating a relation
    between them."""
    settings = settings or GraphSettings()
    started = time.perf_counter()
    keys = sorted(extractions)
    ids: dict[str, int] = {}
    spelled: list[str] = []
    kinds: list[Counter[str]] = []
    incidence: list[tuple[int, int]] = []
    stated: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for row, key in enumerate(keys):
        extraction = extractions[key]
        for entity in extraction.entities:
            node = _node(normalised(entity.name), entity.name, ids, spelled, kinds)
            kinds[node][entity.kind] += entity.kind != "other"
            incidence.append((row, node))
        for relation in extraction.relations:
            ends = (ids[normalised(relation.source)], ids[normalised(relation.target)])
            stated[min(ends), max(ends)][
                f"{relation.source} {relation.label} {relation.target}"] += 1
    adjacency = _adjacency(stated, len(spelled))
    linked = np.flatnonzero(np.diff(adjacency.indptr) > 0)
    adjacency = adjacency[linked][:, linked].tocsr()
    chunk_nodes = _incidence(incidence, len(keys), len(spelled))[:, linked].tocsr()
    communities = detect(adjacency, chunk_nodes, settings.max_community, settings.max_levels,
                         settings.resolution, settings.seed)
    mentions = np.asarray((chunk_nodes > 0).sum(axis=0)).ravel().astype(np.int64)
    graph = Graph(concepts=linked.astype(np.int64), adjacency=adjacency, mentions=mentions,
                  chunk_keys=np.asarray(keys, dtype=np.int64), communities=communities,
                  seconds=time.perf_counter() - started, settings=settings_digest(settings))
    return KnowledgeGraph(
        graph=graph, names=spelled,
        kinds=[tally.most_common(1)[0][0] if sum(tally.values()) else "other"
               for tally in kinds],
        relations={pair: tuple(text for text, _ in tally.most_common())
                   for pair, tally in stated.items()},
        chunks_read=len(keys), dropped=sum(e.dropped for e in extractions.values()))


def _node(key: str, name: str, ids: dict[str, int], spelled: list[str],
          kinds: list[Counter[str]]) -> int:
    if key not in ids:
        ids[key] = len(spelled)
        spelled.append(name)
        kinds.append(Counter())
    return ids[key]


def _adjacency(stated: Mapping[tuple[int, int], Counter[str]], size: int) -> sparse.csr_matrix:
    """Symmetric weights: how many times a relation between the two was stated."""
    pairs = list(stated)
    weights = np.asarray([sum(stated[pair].values()) for pair in pairs], dtype=np.float64)
    rows = np.asarray([a for a, _ in pairs] + [b for _, b in pairs], dtype=np.int64)
    cols = np.asarray([b for _, b in pairs] + [a for a, _ in pairs], dtype=np.int64)
    matrix = sparse.csr_matrix((np.concatenate([weights, weights]), (rows, cols)),
                               shape=(size, size))
    return matrix


def _incidence(pairs: list[tuple[int, int]], chunks: int, nodes: int) -> sparse.csr_matrix:
    rows = np.asarray([row for row, _ in pairs], dtype=np.int64)
    cols = np.asarray([node for _, node in pairs], dtype=np.int64)
    matrix = sparse.csr_matrix((np.ones(len(pairs)), (rows, cols)), shape=(chunks, nodes))
    matrix.data[:] = 1.0  # an entity named twice in one chunk is one mention
    return matrix
