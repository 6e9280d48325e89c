"""Ingestion on Ray (``lore index --ray``): the same knowledge base as a run in this process,
on a real local Ray cluster, including when an embedding worker is killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import lore
from lore.pipeline import SilentListener
from lore.ray_ingest import RaySettings
from lore.store.protocol import Store

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")


def corpus(root: Path, records: int = 120) -> Path:
    """Markdown notes, a JSONL file of many records, a file that cannot be read as text."""
    root.mkdir()
    for i in range(12):
        (root / f"note_{i}.md").write_text(
            f"# Note {i}\n\nNote number {i} says the sweeper visits shelf {i * 7}.\n\n"
            + " ".join(f"Paragraph text {i} word{w}." for w in range(60)) + "\n")
    with open(root / "claims.jsonl", "w") as handle:
        for i in range(records):
            handle.write(json.dumps({"_id": f"c{i}", "title": f"Claim {i}",
                                     "text": f"Claim {i} holds that protein {i % 17} binds "
                                             f"receptor {i % 5} in tissue {i}."}) + "\n")
    (root / "broken.md").write_bytes(b"\x00\x01\x02" * 200)
    return root


def snapshot(store: Store) -> dict[str, object]:
    """What a store holds, by stable ids: files, and each chunk's document, view and vector."""
    rowids, vectors = store.chunk_vectors()
    chunks = store.chunks([int(r) for r in rowids])
    held = {chunks[int(r)].chunk.id: (chunks[int(r)].path, chunks[int(r)].chunk.view, vector)
            for r, vector in zip(rowids, vectors, strict=True)}
    return {"files": sorted(store.file_paths()), "chunks": held,
            "count": store.chunk_count()}


def same(got: dict[str, object], expected: dict[str, object]) -> None:
    assert got["files"] == expected["files"] and got["count"] == expected["count"]
    mine, theirs = got["chunks"], expected["chunks"]
    assert isinstance(mine, dict) and isinstance(theirs, dict) and mine.keys() == theirs.keys()
    for chunk_id, (path, view, vector) in mine.items():
        assert (path, view) == theirs[chunk_id][:2]
        # Batched with other texts, a view's vector moves in the last digits the model's
        # precision holds, not more.
        other = theirs[chunk_id][2]
        assert float(vector @ other) / float(np.linalg.norm(vector) * np.linalg.norm(other)) \
            > 0.999


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_builds_what_this_process_builds(tmp_path: Path, local_ray: None) -> None:
    docs = corpus(tmp_path / "docs")
    with lore.open(tmp_path / "here", model="minilm") as here:
        alone = here.index([docs])
        expected = snapshot(here._store)
    with lore.open(tmp_path / "ray", model="minilm") as kb:
        report = kb.index([docs], ray=RaySettings(actors=2, batch=16))
        assert (report.documents_added, len(report.skipped)) == \
            (alone.documents_added, len(alone.skipped)) == (12 + 120, 1)
        assert report.skipped[0].path.endswith("broken.md")
        same(snapshot(kb._store), expected)
        again = kb.index([docs], ray=RaySettings(actors=2))
        assert (again.files_unchanged, again.chunks_embedded) == (13, 0)
        assert kb.search("shelf 63", k=1)[0].path.endswith("note_9.md")
    changed = rewrite_claims(docs / "claims.jsonl", [3, 50, 51])
    with lore.open(tmp_path / "here", model="minilm") as here:
        alone = here.index([docs])
        expected = snapshot(here._store)
    with lore.open(tmp_path / "ray", model="minilm") as kb:
        report = kb.index([docs], ray=RaySettings(actors=2, batch=16))
        # Only the changed records' views are embedded, as in this process.
        assert report.chunks_embedded == alone.chunks_embedded == changed
        assert report.documents_updated == alone.documents_updated == changed
        same(snapshot(kb._store), expected)


def rewrite_claims(path: Path, numbers: list[int]) -> int:
    """Give these records of a JSONL file new text; returns how many."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for number in numbers:
        records[number]["text"] += " It was later retracted."
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return len(numbers)


class KillOnce(SilentListener):
    """Kills one embedding actor's process (SIGKILL) once some views have been stored."""

    def __init__(self, after: int) -> None:
        self.after, self.embedded, self.killed = after, 0, threading.Event()

    def on_embedded(self, views: int) -> None:
        self.embedded += views
        if self.embedded >= self.after and not self.killed.is_set():
            os.kill(embedding_actor_pids()[0], signal.SIGKILL)
            self.killed.set()


def embedding_actor_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"EmbeddingActor" in title:
                found.append(int(entry.name))
    return found


def test_a_killed_embedding_worker_is_retried_and_every_document_is_stored_once(
        tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    docs = corpus(tmp_path / "docs", records=600)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)  # two nodes, one embedding actor each
    try:
        with lore.open(tmp_path / "kb", model="minilm") as kb:
            listener = KillOnce(after=100)
            report = kb.index([docs], listener,
                              ray=RaySettings(address=cluster.address, actors=2, batch=16))
            assert listener.killed.is_set()
            assert report.documents_added == 12 + 600
            assert kb._store.document_count() == 12 + 600
            assert not kb._store.views_without_vectors()
            held = snapshot(kb._store)
        with lore.open(tmp_path / "here", model="minilm") as here:
            here.index([docs])
            same(held, snapshot(here._store))
    finally:
        cluster.shutdown()  # type: ignore[no-untyped-call]
