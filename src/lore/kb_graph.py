"""The knowledge base's concept graph, as methods of ``KnowledgeBase``: its size, its
communities with the documents they hold, and its export (``lore graph``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lore.graph.export import ExportFormat, export_graph
from lore.graph.model import Graph
from lore.graph.report import CommunitySummary, summaries
from lore.store.concepts import ConceptIndex
from lore.store.derived import DerivedIndex
from lore.store.protocol import Store


@dataclass(frozen=True, slots=True)
class CommunityView:
    summary: CommunitySummary
    documents: tuple[str, ...]
    """Titles (or paths) of the documents with the most chunks in it, first the most."""


class Graphing:
    """Mixed into ``KnowledgeBase``, whose store and concept index these methods read."""

    _store: Store
    _concepts: DerivedIndex[ConceptIndex]

    def concept_graph(self) -> tuple[Graph, list[str]]:
        """The concept graph, caught up with the store, and the concept names it speaks of."""
        index = self._concepts.current()
        return index.graph(), index.names

    def graph_stats(self) -> dict[str, float | int]:
        graph, names = self.concept_graph()
        return {"concepts_read": len(names), **graph.facts()}

    def communities(self, level: int = 0, limit: int | None = None, documents: int = 3
                    ) -> list[CommunityView]:
        """The communities of ``level``, the largest first, each with its documents."""
        graph, names = self.concept_graph()
        found = summaries(graph, names, level)[:limit]
        return [CommunityView(summary, self._documents_of(graph, summary.id, documents))
                for summary in found]

    def export_graph(self, path: Path, form: ExportFormat) -> dict[str, float | int]:
        """Write the graph to ``path`` as GraphML or node-link JSON; returns its size."""
        graph, names = self.concept_graph()
        export_graph(graph, names, path, form)
        return graph.facts()

    def _documents_of(self, graph: Graph, community: int, count: int) -> tuple[str, ...]:
        rows = graph.communities.chunk_rows(community)
        chunks = self._store.chunks(graph.chunk_keys[rows].tolist())
        tally = Counter(stored.title or Path(stored.path).name for stored in chunks.values())
        return tuple(name for name, _ in tally.most_common(count))
