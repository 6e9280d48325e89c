"""A knowledge base at a glance (``lore status``): what it holds, with what, since when."""

from __future__ import annotations

from pathlib import Path

from lore.graph.model import saved_facts
from lore.retrieve.tuning import Tuning
from lore.store.bm25 import BM25Index
from lore.store.concepts import ConceptIndex
from lore.store.derived import DerivedIndex
from lore.store.protocol import Store, VectorIndex
from lore.train.catalog import list_models
from lore.types import Status


def kb_status(directory: Path, store: Store, vectors: DerivedIndex[VectorIndex],
            terms: DerivedIndex[BM25Index], concepts: DerivedIndex[ConceptIndex], model: str,
            dim: int) -> Status:
    meta = store.get_meta
    return Status(
        path=str(directory), documents=store.document_count(), chunks=store.chunk_count(),
        vectors=store.vector_count(), embedder=meta("embedder") or model,
        dimension=int(meta("dimension") or dim),
        ann=vectors.kind if vectors.kind != "none" else vectors.saved_kind(),
        store_bytes=store.size_bytes(),
        index_bytes=vectors.size_bytes() + terms.size_bytes() + concepts.size_bytes(),
        last_update=meta("last_update") or "never", schema_version=store.schema_version,
        store=store.location,
        embedder_reason=meta("embedder_reason") or "",
        trained=tuple(model.spec for model in list_models(directory)),
        tuning=Tuning.from_json(meta("tuning")).describe() if meta("tuning") else "defaults",
        concept_bytes=concepts.size_bytes() if concepts.saved_kind() != "none" else None,
        graph=_graph_facts(concepts))


def _graph_facts(concepts: DerivedIndex[ConceptIndex]) -> dict[str, float | int] | None:
    saved = concepts.saved_directory()
    return saved_facts(saved) if saved is not None else None
