"""The vector-index family on real embeddings: exact, HNSW, IVF-PQ and LSH, at 50k and 1M.

    python benchmarks/ann_family.py [--scale 50k|1m|all] [--quick]

Data (cached under ``benchmarks/.cache/ann_family/``, so a re-run skips embedding):

- 50k scale: every shared corpus (``../shared/data/*/corpus.jsonl``: SciFact, SQuAD, HotpotQA,
  CMRC 2018, CoSQA) cut into passages (sentences, or lines of code, packed up to 360
  characters, the document title on a line before each), 50,000 of them drawn with a fixed
  seed, embedded with lore's MiniLM embedder (``EmbedConfig()``, bf16 where the CPU has it).
  Queries: 200 query texts drawn from each corpus's ``queries.jsonl`` (only the ``text`` field
  is read), 1,000 in all, embedded with ``embed_query``. Queries are not in the base set.
- 1M scale: the 50,000 real vectors plus 19 perturbed copies of each: ``x + s * z``,
  renormalised, with ``z`` Gaussian with the covariance of the real vectors (normalised to unit
  expected length, so copies vary along the directions real passages vary in) and ``s`` set
  from the data so that a copy is as far from its source as a real passage is from its
  nearest other passage (the median nearest-neighbour cosine of the 50k set). The noise norm,
  the realised mean cosine of a copy to its source and the share of true top-10 neighbours
  that are copies are printed. (Isotropic noise was tried first and is harder: see
  ``write_perturbed``.)

Ground truth: exact inner product, top 10. Each index kind is built in its own subprocess
(clean memory numbers), then searched one query at a time on one thread (usearch and faiss
are told to use one; numpy's ``vecdot`` is single-threaded), sweeping its search parameter:
``ef`` for HNSW, ``nprobe`` for IVF-PQ, the shortlist factor for LSH. IVF-PQ and LSH re-score
their shortlist exactly from a float32 memory map of the vectors standing in for the store
(page-cached, so it is the cheap case; ``SqliteStore.vectors_by_rowid`` is timed separately
for the same shortlist sizes at 50k). Builds may use both cores (HNSW); faiss runs on one.
Index bytes are the saved index's files; raw float32 is ``n * 384 * 4``.

Writes ``results/ann_family.json``, ``.md`` and ``.png`` (recall@10 against queries/second).
The load average is recorded for every worker: on a shared 2-core machine it shows in every
number.
"""

from __future__ import annotations

import argparse
import gc
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import machine  # noqa: E402

from lore.store.flat import ExactIndex, write_params  # noqa: E402
from lore.store.hnsw import HnswIndex  # noqa: E402
from lore.store.ivfpq import IvfPqIndex  # noqa: E402
from lore.store.lsh import LshIndex  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CACHE = Path(__file__).resolve().parent / ".cache" / "ann_family"
RESULTS = Path(__file__).resolve().parent / "results"

DIM = 384
K = 10
N_BASE = 50_000
QUERIES_PER_CORPUS = 200
PASSAGE_CHARS = 360
"""Sentences (lines, for code) are packed into passages of at most this many characters."""
COPIES = 19
SHARD = 2_000
SEED = 0
QUICK = {"base": 2_000, "queries": 100}
"""``--quick``: the first 2,000 passages (x 20 for the large scale) and 100 queries."""

EF = (16, 32, 64, 128, 256, 512, 1024)
NPROBE = (4, 8, 16, 32, 64, 128)
RESCORE_IVFPQ = (5, 10, 20)
"""Shortlist factors tried for IVF-PQ at its middle ``nprobe`` (``k * factor`` re-scored)."""
LSH_RESCORE = (10, 20, 50, 100, 200)
LSH_BITS = (768, 1536)
EXACT_QUERIES_1M = 200
"""Exact search at 1M takes ~0.1 s a query: time it on the first 200 queries only."""
ONLY_50K = ("store", "ivfpq-8x")
"""Run at 50k only: the SQLite timing, and 8x codes (a design check: same recall as 16x once
re-scored, 11x slower to build)."""
GOALS = {"hnsw_recall": 0.95, "hnsw_speedup": 20.0, "ivfpq_memory": 0.15, "ivfpq_recall": 0.85}


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")


def split_passages(text: str, cap: int = PASSAGE_CHARS) -> list[str]:
    """``text`` cut at sentence ends and line breaks, then packed greedily up to ``cap`` chars."""
    passages, current = [], ""
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip()
        if not piece:
            continue
        if current and len(current) + 1 + len(piece) > cap:
            passages.append(current)
            current = piece
        else:
            current = f"{current} {piece}".strip()
    if current:
        passages.append(current)
    return passages


def corpora(data: Path) -> list[Path]:
    return sorted(Path(p).parent for p in glob.glob(str(data / "*" / "corpus.jsonl")))


def base_texts(data: Path) -> list[str]:
    """``N_BASE`` passages from every corpus (title, newline, passage), a seeded sample."""
    texts = []
    for folder in corpora(data):
        with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                title = (record.get("title") or "").strip()
                for passage in split_passages(record["text"]):
                    texts.append(f"{title}\n{passage}" if title else passage)
    if len(texts) < N_BASE:
        raise SystemExit(f"only {len(texts)} passages; lower PASSAGE_CHARS")
    keep = np.sort(np.random.default_rng(SEED).choice(len(texts), N_BASE, replace=False))
    return [texts[i] for i in keep.tolist()]


def query_texts(data: Path) -> list[str]:
    """``QUERIES_PER_CORPUS`` query texts from each corpus (only the ``text`` field is read)."""
    texts = []
    rng = np.random.default_rng(SEED + 1)
    for folder in corpora(data):
        with open(folder / "queries.jsonl", encoding="utf-8") as handle:
            pool = [json.loads(line)["text"] for line in handle]
        keep = np.sort(rng.choice(len(pool), min(QUERIES_PER_CORPUS, len(pool)), replace=False))
        texts.extend(pool[i] for i in keep.tolist())
    return texts


def embed_cached(texts: list[str], name: str, queries: bool = False) -> np.ndarray:
    """MiniLM embeddings of ``texts`` (``embed_query`` one by one when ``queries``, else
    ``embed_documents``), cached in shards under ``CACHE`` so re-runs skip the work.

    Torch runs on one thread: on this shared 2-core machine that embedded 16 texts/s against
    11 on two. Several processes may share the work: each claims a shard with an exclusive
    ``.claim`` file first (a claim whose process is gone is taken over).
    """
    import torch

    from lore.config import EmbedConfig
    from lore.embed.registry import create_embedder

    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    final = CACHE / f"{name}-{digest}.npy"
    if final.exists():
        return np.load(final)
    shards = CACHE / f"{name}-{digest}.shards"
    shards.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    embedder = create_embedder(EmbedConfig())
    starts = list(range(0, len(texts), SHARD))
    for start in starts[::-1] if os.environ.get("ANN_FAMILY_REVERSE") else starts:
        path = shards / f"{start:07d}.npy"
        if path.exists() or not _claim(path.with_suffix(".claim")):
            continue
        began = time.perf_counter()
        piece = texts[start:start + SHARD]
        temp = path.with_suffix(".tmp.npy")
        np.save(temp, np.stack([embedder.embed_query(t) for t in piece]) if queries
                else embedder.embed_documents(piece))
        os.replace(temp, path)
        path.with_suffix(".claim").unlink()
        print(f"  embedded {name} {start + len(piece)}/{len(texts)} "
              f"({time.perf_counter() - began:.0f} s)", file=sys.stderr, flush=True)
    missing = [s for s in starts if not (shards / f"{s:07d}.npy").exists()]
    if missing:
        raise SystemExit(f"shards {missing} of {name} are being embedded by another process; "
                         "run again when it is done")
    vectors = np.concatenate([np.load(shards / f"{s:07d}.npy") for s in starts])
    np.save(final, vectors.astype(np.float32))
    return vectors.astype(np.float32)


def _claim(path: Path) -> bool:
    """Create ``path`` holding this pid; False when another live process holds it."""
    try:
        holder: int | None = int(path.read_text())
    except (FileNotFoundError, ValueError):
        holder = None
    if holder == os.getpid():
        return True
    if holder is not None:
        try:
            os.kill(holder, 0)
            return False
        except ProcessLookupError:
            path.unlink(missing_ok=True)  # its process is gone
    temp = path.with_name(f"{path.name}.{os.getpid()}")
    temp.write_text(str(os.getpid()))
    try:
        os.link(temp, path)  # atomic: fails when another process claimed it first
        return True
    except FileExistsError:
        return False
    finally:
        temp.unlink()




# --- data ------------------------------------------------------------------------------------

def prepare(scale: str, quick: bool, data: Path) -> Path:
    """The data folder of one scale, built once: the base vectors as an ``ExactIndex`` folder
    (``vectors.npy`` doubles as the store the compressed indexes re-score from), the queries,
    the exact top-10 and ``stats.json`` (written last)."""
    folder = CACHE / (scale + ("-quick" if quick else ""))
    if (folder / "stats.json").exists():
        return folder
    texts, asked = base_texts(data), query_texts(data)
    if quick:
        texts, asked = texts[:QUICK["base"]], asked[::len(asked) // QUICK["queries"]]
    base = embed_cached(texts, "base")
    queries = embed_cached(asked, "queries", queries=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    stats: dict[str, Any] = {"base_real": len(base), "queries": len(queries)}
    if scale == "50k":
        write_vectors(folder, base)
    else:
        stats.update(write_perturbed(folder, base))
    np.save(folder / "queries.npy", queries)
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    truth, scores = exact_top(vectors, queries)
    np.save(folder / "truth.npy", truth)
    stats.update({"n": len(vectors), "mean_cos_nn1": float(scores[:, 0].mean()),
                  "mean_cos_nn10": float(scores[:, -1].mean()),
                  "share_of_true_top10_that_are_copies": float((truth >= len(base)).mean())})
    (folder / "stats.json").write_text(json.dumps(stats, indent=2))
    return folder


def write_vectors(folder: Path, vectors: np.ndarray) -> None:
    """``vectors`` under keys 0..n-1 as an ``ExactIndex`` folder (loadable, memory-mappable)."""
    np.save(folder / "keys.npy", np.arange(len(vectors), dtype=np.int64))
    np.save(folder / "vectors.npy", vectors.astype(np.float32))
    write_params(folder, {"kind": "exact", "dim": DIM, "count": len(vectors)})


def write_perturbed(folder: Path, base: np.ndarray) -> dict[str, float]:
    """Rows 0..n0-1 the real vectors, then ``COPIES`` noisy copies of each (copy ``j`` of row
    ``i`` at ``n0 + i * COPIES + j``), written block by block into a memory map.

    The noise is Gaussian with the covariance of the real vectors (so a copy varies the way
    real passages do, inside the data's few dozen effective dimensions), scaled so that a copy
    is as far from its source as the median real passage is from its nearest neighbour.
    Isotropic noise of the same size was tried first, at 5,000 x 20: it puts a third of each
    copy's length in random directions off the data, and HNSW recall@10 at ef 128 fell to
    0.72 there, against 0.83 with shaped noise.
    """
    n0 = len(base)
    scale, shape, model = noise_model(base)
    out = np.lib.format.open_memmap(folder / "vectors.npy", mode="w+", dtype=np.float32,
                                    shape=(n0 * (COPIES + 1), DIM))
    out[:n0] = base
    rng = np.random.default_rng(SEED + 3)
    cos_sum = 0.0
    for start in range(0, n0, 2_500):
        source = np.repeat(base[start:start + 2_500], COPIES, axis=0)
        noise = rng.standard_normal(source.shape, dtype=np.float32) @ shape
        copies = source + scale * noise
        copies /= np.linalg.norm(copies, axis=1, keepdims=True)
        cos_sum += float(np.einsum("ij,ij->", copies, source))
        out[n0 + start * COPIES:n0 + start * COPIES + len(copies)] = copies
    out.flush()
    del out
    np.save(folder / "keys.npy", np.arange(n0 * (COPIES + 1), dtype=np.int64))
    write_params(folder, {"kind": "exact", "dim": DIM, "count": n0 * (COPIES + 1)})
    return {"copies_per_vector": COPIES, **model,
            "mean_cos_copy_to_source": cos_sum / (n0 * COPIES)}


def noise_model(base: np.ndarray) -> tuple[float, np.ndarray, dict[str, Any]]:
    """``(scale, shape, facts)`` of the copies' noise: a copy of ``x`` is ``x + scale * z @
    shape``, renormalised, with ``z`` standard normal (``write_perturbed`` says why)."""
    n0 = len(base)
    sample = np.random.default_rng(SEED + 2).choice(n0, min(2_000, n0), replace=False)
    sims = base[sample] @ base.T
    sims[np.arange(len(sample)), sample] = -np.inf
    target = float(np.median(sims.max(axis=1)))
    evals, evecs = np.linalg.eigh(np.cov(base.T))
    evals = np.clip(evals, 0, None)
    scale = float(np.sqrt(1 / target**2 - 1))  # |noise| for cos(copy, source) = target
    shape = (evecs * np.sqrt(evals / evals.sum())).T.astype(np.float32)  # E|z @ shape|^2 = 1
    return scale, shape, {
        "noise": "Gaussian, covariance of the real vectors", "noise_norm": scale,
        "noise_sigma_per_dim_rms": scale / np.sqrt(base.shape[1]),
        "effective_dims_of_real_data": float(evals.sum() ** 2 / (evals**2).sum()),
        "target_cos_median_real_nn1": target}


def exact_top(vectors: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``K`` rows and scores per query, scanning ``vectors`` in blocks (all cores)."""
    best_rows = np.zeros((len(queries), K), dtype=np.int64)
    best = np.full((len(queries), K), -np.inf, dtype=np.float32)
    for start in range(0, len(vectors), 50_000):
        scores = queries @ np.asarray(vectors[start:start + 50_000]).T
        part = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        rows = np.concatenate([best_rows, part + start], axis=1)
        both = np.concatenate([best, np.take_along_axis(scores, part, 1)], axis=1)
        order = np.argsort(-both, axis=1, kind="stable")[:, :K]
        best_rows, best = np.take_along_axis(rows, order, 1), np.take_along_axis(both, order, 1)
    return best_rows, best


# --- workers: one index kind per process ----------------------------------------------------

Search = Callable[[np.ndarray], np.ndarray]
Sweep = list[tuple[dict[str, Any], Search]]


def build_exact(vectors: np.ndarray, folder: Path) -> tuple[Any, Sweep]:
    index = ExactIndex.load(folder)  # reads the float32 matrix into memory: no build
    return index, [({}, lambda q: index.search(q, K)[0])]


def build_hnsw(vectors: np.ndarray, folder: Path) -> tuple[Any, Sweep]:
    index = HnswIndex(DIM)  # lore's defaults: M=16, ef_construction=128, both cores
    add_in_blocks(index, vectors)

    def at(ef: int) -> Search:
        return lambda q: index.search(q, K, ef_search=ef)[0]

    return index, [({"ef": ef}, at(ef)) for ef in EF]


def build_ivfpq(compression: int) -> Callable[[np.ndarray, Path], tuple[Any, Sweep]]:
    def build(vectors: np.ndarray, folder: Path) -> tuple[Any, Sweep]:
        return ivfpq_sweep(vectors, compression)
    return build


def ivfpq_sweep(vectors: np.ndarray, compression: int) -> tuple[Any, Sweep]:
    index = IvfPqIndex(DIM, min_train=len(vectors),  # trained once, on everything
                       compression=compression,
                       rescore_source=lambda keys: np.asarray(vectors[keys]))

    def at(nprobe: int, rescore: int) -> Search:
        return lambda q: index.search(q, K, nprobe=nprobe, rescore=rescore)[0]

    def unscored(nprobe: int) -> Search:
        def search(q: np.ndarray) -> np.ndarray:
            source, index.rescore_source = index.rescore_source, None
            try:
                return index.search(q, K, nprobe=nprobe)[0]
            finally:
                index.rescore_source = source
        return search

    add_in_blocks(index, vectors)
    middle = NPROBE[len(NPROBE) // 2]
    sweep: Sweep = [({"nprobe": p, "rescore": 10}, at(p, 10)) for p in NPROBE]
    sweep += [({"nprobe": middle, "rescore": r}, at(middle, r)) for r in RESCORE_IVFPQ
              if r != 10]
    sweep.append(({"nprobe": middle, "rescore": "none (PQ scores)"}, unscored(middle)))
    return index, sweep


def build_lsh(nbits: int) -> Callable[[np.ndarray, Path], tuple[Any, Sweep]]:
    def build(vectors: np.ndarray, folder: Path) -> tuple[Any, Sweep]:
        index = LshIndex(DIM, nbits=nbits, rescore_source=lambda keys: np.asarray(vectors[keys]))
        add_in_blocks(index, vectors)

        def at(rescore: int) -> Search:
            return lambda q: index.search(q, K, rescore=rescore)[0]

        return index, [({"nbits": nbits, "rescore": r}, at(r)) for r in LSH_RESCORE]
    return build


BUILDERS: dict[str, Callable[[np.ndarray, Path], tuple[Any, Sweep]]] = {
    "exact": build_exact, "hnsw": build_hnsw, "ivfpq": build_ivfpq(16),
    "ivfpq-8x": build_ivfpq(8), **{f"lsh-{bits}": build_lsh(bits) for bits in LSH_BITS}}


def add_in_blocks(index: Any, vectors: np.ndarray, block: int = 100_000) -> None:
    """Add the memory-mapped rows a block at a time (never a second full float32 copy)."""
    for start in range(0, len(vectors), block):
        rows = np.asarray(vectors[start:start + block])
        index.add(np.arange(start, start + len(rows), dtype=np.int64), rows)


def worker(folder: Path, kind: str) -> dict[str, Any]:
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    queries, truth = np.load(folder / "queries.npy"), np.load(folder / "truth.npy")
    if kind == "exact" and len(vectors) > 100_000:
        queries, truth = queries[:EXACT_QUERIES_1M], truth[:EXACT_QUERIES_1M]
    load_before = os.getloadavg()
    began = time.perf_counter()
    index, sweep = BUILDERS[kind](vectors, folder)
    build_s = time.perf_counter() - began
    gc.collect()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        index.save(Path(tmp))
        index_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())
    points = [{**setting, **measure(search, queries, truth)} for setting, search in sweep]
    return {"kind": kind, "n": len(vectors), "build_s": build_s, "index_bytes": index_bytes,
            "raw_float32_bytes": len(vectors) * DIM * 4, "queries_timed": len(queries),
            "peak_rss_mb": peak_rss_mb(),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "sweep": points}


def peak_rss_mb() -> float:
    """This process's peak resident memory (``VmHWM``; ``ru_maxrss`` would include the parent's
    size at fork, which survives ``exec`` on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(search: Search, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """recall@10 against the exact top-10, and single-query latency after 20 warm-up queries:
    wall clock, and the process's CPU time, which a busy machine disturbs far less (a query
    waiting for a core costs wall time, not CPU time)."""
    for q in queries[:20]:
        search(q)
    times, cpu, hits = [], [], []
    for q, true in zip(queries, truth, strict=True):
        started, started_cpu = time.perf_counter(), time.process_time()
        found = search(q)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        hits.append(len(np.intersect1d(found, true)) / K)
    ms = np.array(times) * 1e3
    return {"recall_at_10": float(np.mean(hits)), "qps": float(1e3 / ms.mean()),
            "cpu_qps": float(1 / np.mean(cpu)), "p50_ms": float(np.median(ms)),
            "p99_ms": float(np.percentile(ms, 99))}


def store_worker(folder: Path) -> dict[str, Any]:
    """Time ``SqliteStore.vectors_by_rowid`` (lore's re-scoring source) for shortlists of the
    sizes IVF-PQ and LSH ask for, over a store holding this scale's vectors."""
    from lore.store.protocol import DocumentWrite, FileRecord
    from lore.store.sqlite import SqliteStore
    from lore.text.analyze import analyze
    from lore.types import Chunk, Document

    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        store = SqliteStore(Path(tmp) / "lore.db")
        for start in range(0, len(vectors), 500):
            rows = range(start, min(start + 500, len(vectors)))
            views = [f"passage {i}" for i in rows]
            text = "\n".join(views)
            document = Document(path=f"/bench/{start}.txt", text=text, key="", title="",
                                format="text", language="en", mtime=0.0)
            offsets = np.cumsum([0] + [len(v) + 1 for v in views])
            chunks = [Chunk(doc_id=document.id, text=v, start=int(offsets[j]),
                            end=int(offsets[j]) + len(v), view=v, section=(), lines=(j, j))
                      for j, v in enumerate(views)]
            store.put_vectors([c.view_hash for c in chunks], np.asarray(vectors[rows.start:
                                                                                rows.stop]))
            store.write([DocumentWrite(document, chunks, [" ".join(analyze(v)) for v in views])],
                        files=[FileRecord(document.path, 1, 0.0, str(start))])
        keys = store.chunk_vectors(dim=DIM)[0]
        rng = np.random.default_rng(SEED + 4)
        wall, cpu = {}, {}
        for size in (100, 200, 500, 1_000, 2_000):
            ms, cpu_ms = [], []
            for _ in range(100):
                shortlist = rng.choice(keys, size, replace=False)
                started, started_cpu = time.perf_counter(), time.process_time()
                store.vectors_by_rowid(shortlist, DIM)
                ms.append((time.perf_counter() - started) * 1e3)
                cpu_ms.append((time.process_time() - started_cpu) * 1e3)
            wall[str(size)], cpu[str(size)] = float(np.median(ms)), float(np.median(cpu_ms))
        store.close()
    return {"kind": "store", "n": len(vectors), "vectors_by_rowid_p50_ms": wall,
            "vectors_by_rowid_cpu_p50_ms": cpu, "loadavg_after": os.getloadavg()}


def run_worker(folder: Path, kind: str) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, "--worker", str(folder), kind],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"worker {kind} on {folder.name} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- report ----------------------------------------------------------------------------------

def goals(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The project's targets, from the sweeps: HNSW speed-up over exact search by wall-clock
    QPS and by CPU-time QPS (both shown; the goal is judged on wall clock). The targets are
    set for 1M vectors; smaller scales get the same figures with ``met`` None (reference)."""
    out: dict[str, Any] = {}
    for n in sorted({r["n"] for r in results if r["kind"] != "store"}):
        by_kind = {r["kind"]: r for r in results if r["n"] == n}
        verdict: dict[str, Any] = {}
        if "hnsw" in by_kind and "exact" in by_kind:
            verdict["hnsw"] = hnsw_verdict(by_kind["hnsw"], by_kind["exact"]["sweep"][0])
        if "ivfpq" in by_kind:
            verdict["ivfpq"] = ivfpq_verdict(by_kind["ivfpq"])
        if n < 1_000_000:
            verdict = {kind: {**v, "met": None} for kind, v in verdict.items()}
        out[str(n)] = verdict
    return out


def hnsw_verdict(hnsw: dict[str, Any], exact: dict[str, Any]) -> dict[str, Any]:
    good = [p for p in hnsw["sweep"] if p["recall_at_10"] >= GOALS["hnsw_recall"]]
    if not good:
        best = max(hnsw["sweep"], key=lambda p: p["recall_at_10"])
        return {"ef": best["ef"], "recall_at_10": best["recall_at_10"], "met": False}
    best = max(good, key=lambda p: p["qps"])
    speedup, cpu_speedup = best["qps"] / exact["qps"], best["cpu_qps"] / exact["cpu_qps"]
    return {"ef": best["ef"], "recall_at_10": best["recall_at_10"], "qps": best["qps"],
            "exact_qps": exact["qps"], "speedup": speedup, "cpu_speedup": cpu_speedup,
            "met": speedup >= GOALS["hnsw_speedup"]}


def ivfpq_verdict(ivfpq: dict[str, Any]) -> dict[str, Any]:
    ratio = ivfpq["index_bytes"] / ivfpq["raw_float32_bytes"]
    scored = [p for p in ivfpq["sweep"] if isinstance(p["rescore"], int)]
    good = [p for p in scored if p["recall_at_10"] >= GOALS["ivfpq_recall"]]
    best = max(good, key=lambda p: p["qps"]) if good else max(
        scored, key=lambda p: p["recall_at_10"])
    return {"memory_ratio": ratio, "nprobe": best["nprobe"], "rescore": best["rescore"],
            "recall_at_10": best["recall_at_10"], "qps": best["qps"],
            "met": ratio <= GOALS["ivfpq_memory"] and bool(good)}


def setting(point: dict[str, Any]) -> str:
    keys = [k for k in ("ef", "nprobe", "nbits", "rescore") if k in point]
    return " ".join(f"{k}={point[k]}" for k in keys) or "-"


def table_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        if r["kind"] == "store":
            continue
        for p in r["sweep"]:
            rows.append([f"{r['n']:,}", r["kind"], setting(p), f"{p['recall_at_10']:.3f}",
                         f"{p['qps']:,.0f}", f"{p['cpu_qps']:,.0f}", f"{p['p50_ms']:.2f}",
                         f"{r['build_s']:.0f}",
                         f"{r['index_bytes'] / 2**20:,.1f}",
                         f"{r['index_bytes'] / r['raw_float32_bytes']:.3f}",
                         f"{r['peak_rss_mb']:,.0f}"])
    return rows


HEADER = ["n", "index", "setting", "recall@10", "QPS", "CPU QPS", "p50 ms", "build s",
          "index MB", "x raw f32", "peak RSS MB"]


def write_markdown(report: dict[str, Any], path: Path) -> None:
    lines = ["# Vector-index family: recall@10 against single-thread QPS", "",
             f"Machine: {report['machine']['cpus']} CPUs, {report['machine']['cpu']}; "
             f"load average {report['loadavg_start'][0]:.1f} at start, "
             f"{report['loadavg_end'][0]:.1f} at end. Data: {report['data']}", ""]
    for scale, stats in report["data_stats"].items():
        lines.append(f"- {scale}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float)
                                                 else f"{k} {v}" for k, v in stats.items()))
    lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(report["results"])]
    for r in report["results"]:
        if r["kind"] == "store":
            cpu = r.get("vectors_by_rowid_cpu_p50_ms", {})
            lines += ["", f"SqliteStore.vectors_by_rowid at {r['n']:,} chunks, p50 ms wall "
                      "(CPU) by shortlist size: " + ", ".join(
                          f"{k}: {v:.2f} ({cpu.get(k, float('nan')):.2f})"
                          for k, v in r["vectors_by_rowid_p50_ms"].items())]
    lines += ["", "## Goals", ""]
    for n, verdict in report["goals"].items():
        for kind, v in verdict.items():
            lines.append(f"- n={int(n):,} {kind}: " + ", ".join(
                f"{k} {x:.3g}" if isinstance(x, float) else f"{k} {x}" for k, x in v.items()))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


COLOURS = {"exact": "black", "hnsw": "tab:purple", "ivfpq": "tab:orange",
           "ivfpq-8x": "tab:brown", "lsh-768": "tab:green", "lsh-1536": "tab:olive"}


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """recall@10 against QPS, one panel per scale, one curve per kind over its main sweep
    (IVF-PQ: nprobe at shortlist k x 10; the shortlist variants stay in the table)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    sizes = sorted({r["n"] for r in results if r["kind"] != "store"})
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4.8), squeeze=False)
    for ax, n in zip(axes[0], sizes, strict=True):
        for r in sorted((r for r in results if r["n"] == n and r["kind"] in COLOURS),
                        key=lambda r: list(COLOURS).index(r["kind"])):
            points = [p for p in r["sweep"] if p.get("rescore", 10) == 10 or "nbits" in p]
            ratio = r["index_bytes"] / r["raw_float32_bytes"]
            ax.plot([p["qps"] for p in points], [p["recall_at_10"] for p in points],
                    marker="o", color=COLOURS[r["kind"]],
                    label=f"{r['kind']} ({ratio:.2f}x float32)")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("queries / second (one thread, wall clock)")
        ax.set_ylabel("recall@10")
        ax.set_title(f"{n:,} vectors, dim {DIM}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="recall@10 vs single-thread QPS")
    for name in HEADER:
        table.add_column(name, justify="right")
    for row in table_rows(report["results"]):
        table.add_row(*row)
    console = Console(width=150)
    console.print(table)
    for n, verdict in report["goals"].items():
        for kind, v in verdict.items():
            met = {True: "MET", False: "NOT MET", None: "(reference; goals are at 1M)"}
            console.print(f"goal n={int(n):,} {kind}: {met[v['met']]} {v}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["50k", "1m", "all"], default="all")
    parser.add_argument("--quick", action="store_true",
                        help="2k passages, 100 queries: a smoke run")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--kinds", nargs="+", default=["exact", "ivfpq", "lsh-768", "lsh-1536",
                                                       "store", "ivfpq-8x", "hnsw"],
                        help=f"of {', '.join([*BUILDERS, 'store'])} ({', '.join(ONLY_50K)}: "
                             "50k only)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        folder, kind = Path(args.worker[0]), args.worker[1]
        print(json.dumps(store_worker(folder) if kind == "store" else worker(folder, kind)))
        return
    report: dict[str, Any] = {
        "machine": machine(), "loadavg_start": os.getloadavg(), "k": K, "quick": args.quick,
        "data": "MiniLM embeddings of passages from every shared corpus; the 1M scale adds 19 "
                "Gaussian-perturbed copies of each real vector (see the script's docstring)",
        "settings": {"ef": EF, "nprobe": NPROBE, "ivfpq_rescore": RESCORE_IVFPQ,
                     "lsh_rescore": LSH_RESCORE, "lsh_bits": LSH_BITS},
        "data_stats": {}, "results": []}
    name = "ann_family" + ("_quick" if args.quick else "")
    scales = ["50k", "1m"] if args.scale == "all" else [args.scale]
    keep_earlier(report, args.out / f"{name}.json", scales, args.kinds)
    started = time.perf_counter()
    for scale in scales:
        print(f"preparing {scale} ...", file=sys.stderr, flush=True)
        folder = prepare(scale, args.quick, args.data)
        report["data_stats"][scale] = json.loads((folder / "stats.json").read_text())
        for kind in args.kinds:
            if kind in ONLY_50K and scale != "50k":
                continue
            print(f"{scale} {kind} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            report["results"].append(run_worker(folder, kind))
            print(f"  {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
            write_json(report, args.out / f"{name}.json")  # partial results survive a failure
    report["goals"] = goals(report["results"])
    report["loadavg_end"], report["elapsed_s"] = os.getloadavg(), time.perf_counter() - started
    report["main_peak_rss_mb"] = peak_rss_mb()  # data preparation and ground truth
    write_json(report, args.out / f"{name}.json")
    write_markdown(report, args.out / f"{name}.md")
    plot(report["results"], args.out / f"{name}.png")
    print_table(report)
    print(f"wrote {args.out / name}.json/.md/.png in {report['elapsed_s']:.0f} s")


def keep_earlier(report: dict[str, Any], path: Path, scales: list[str],
                 kinds: list[str]) -> None:
    """Carry over from an earlier report every result not measured again now, so one scale or
    one kind can be re-run alone (each result keeps its own load average)."""
    if not path.exists():
        return
    earlier = json.loads(path.read_text())
    stats = earlier.get("data_stats", {})
    redone = {stats[scale]["n"] for scale in scales if scale in stats}
    kept = [r for r in earlier.get("results", [])
            if not (r["n"] in redone and r["kind"] in kinds)]
    report["results"] += kept
    report["data_stats"].update({k: v for k, v in stats.items() if k not in scales})
    if kept:
        report["carried_over"] = sorted({f"{r['n']} {r['kind']}" for r in kept})
        report["earlier_runs"] = earlier.get("earlier_runs", []) + [
            {k: earlier.get(k) for k in ("loadavg_start", "loadavg_end", "elapsed_s")}]


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
