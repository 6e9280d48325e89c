"""Which HNSW library backs lore's ``hnsw`` index, and from what size is HNSW worth building?

Measures usearch, hnswlib and faiss (``IndexHNSWFlat`` in an ``IndexIDMap2``) at 20k, 50k and
200k vectors of dimension 384, all with M=16 and ef_construction=128:

- build time (all cores), memory added by the index (RSS growth of a fresh worker process),
  size on disk, load time;
- single-thread, one-query-at-a-time latency (p50/p99), QPS and recall@10 against exact search,
  for ef_search in 16..256;
- filtered search (10% and 1% of keys allowed) with the library's own predicate, where it has
  one, and search after deleting 10% of the keys (deleted keys must never come back);
- lore's ``ExactIndex`` single-query latency from 5,183 to 200k vectors (and a BLAS
  matrix-vector product on all cores and on one, for reference), which with the HNSW numbers
  gives ``IndexConfig.hnsw_threshold``.

Data. lore has no stored real embeddings yet, so the vectors are SYNTHETIC, built to resemble
sentence embeddings (MiniLM-like cosine statistics, printed with the results): unit vectors from
a mixture of 300 Gaussian clusters with Zipf-distributed sizes (weight ~ rank^-0.7). Each point
is ``0.35*m + c + U_c z + e``, normalised: ``m`` a direction shared by all (the common
component real embeddings have), ``c`` a random unit cluster centre, ``U_c`` a random
orthonormal 64-dimensional subspace per cluster with power-law scales (anisotropic variance,
low intrinsic dimension), ``e`` small isotropic noise. Queries are 1,000 held-out draws from the
same mixture. Real text may be easier or harder; re-run on stored embeddings when there are some.

Each (library, size) runs in its own subprocess so memory is measured cleanly. Takes about
6-8 minutes on 2 cores.

Run: ``python benchmarks/ann_choice.py`` (``--sizes 20000 --queries 200`` for a smoke run).
Writes ``benchmarks/results/ann_choice.json``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
K = 10
M = 16
EF_CONSTRUCTION = 128
EF_SEARCH = (16, 32, 64, 128, 256)
LIBRARIES = ("usearch", "hnswlib", "faiss")
SIZES = (20_000, 50_000, 200_000)
EXACT_SIZES = (5_183, 10_000, 20_000, 30_000, 50_000, 100_000, 200_000)
TARGET_RECALL = 0.95
FILTER_QUERIES = 300
SEED = 0

CLUSTERS = 300
RANK = 64
MIXTURE = {"clusters": CLUSTERS, "rank": RANK, "zipf": 0.7, "common": 0.35, "spread": 1.2,
           "noise": 1.0}


def make_mixture(n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` unit vectors from the clustered, anisotropic mixture described in the docstring."""
    rng = np.random.default_rng(seed)
    clusters, rank = CLUSTERS, RANK
    common = rng.standard_normal(dim)
    common /= np.linalg.norm(common)
    centres = rng.standard_normal((clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, clusters + 1) ** MIXTURE["zipf"]
    scales = 2 * MIXTURE["spread"] * np.arange(1, rank + 1) ** -0.5 / np.sqrt(rank)
    assign = rng.choice(clusters, size=n, p=weights / weights.sum())
    out = np.empty((n, dim), dtype=np.float32)
    for c in range(clusters):
        rows = np.flatnonzero(assign == c)
        basis = np.linalg.qr(rng.standard_normal((dim, rank)))[0].T
        z = rng.standard_normal((len(rows), rank)) * scales
        noise = MIXTURE["noise"] / np.sqrt(dim) * rng.standard_normal((len(rows), dim))
        out[rows] = MIXTURE["common"] * common + centres[c] + z @ basis + noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def exact_top(corpus: np.ndarray, queries: np.ndarray, masks: dict[str, np.ndarray | None],
              k: int = K) -> dict[str, np.ndarray]:
    """Exact top-``k`` rows per query, one array per mask (None = every row)."""
    out: dict[str, list[np.ndarray]] = {name: [] for name in masks}
    for start in range(0, len(queries), 100):
        scores = queries[start:start + 100] @ corpus.T
        for name, mask in masks.items():
            s = scores if mask is None else np.where(mask, scores, -np.inf)
            part = np.argpartition(-s, k, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(s, part, 1), axis=1)
            out[name].append(np.take_along_axis(part, order, 1))
    return {name: np.concatenate(parts) for name, parts in out.items()}


def describe(corpus: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    rng = np.random.default_rng(1)
    i, j = rng.integers(0, len(corpus), (2, 5000))
    top = np.take_along_axis(queries @ corpus.T, truth, 1)
    return {"mean_cos_random_pair": float(np.mean(np.sum(corpus[i] * corpus[j], 1))),
            "mean_cos_nn1": float(top[:, 0].mean()), "mean_cos_nn10": float(top[:, -1].mean())}


# --- library adapters: build, set ef, query, filtered query, delete, save/load -----------------

class Usearch:
    """usearch measured through ``lore.store.hnsw.HnswIndex``, i.e. as lore will use it: its
    filtered search is lore's (exact scoring of few allowed keys, oversampling for many)."""

    filter_support = "none in the Python API: lore oversamples or scores allowed keys exactly"
    delete_support = "native (remove; lore rebuilds the graph when tombstones pile up)"

    def build(self, keys: np.ndarray, data: np.ndarray) -> None:
        from lore.store.hnsw import HnswIndex
        self.index = HnswIndex(DIM, connectivity=M, ef_construction=EF_CONSTRUCTION)
        self.index.add(keys, data)
        self.ef = 16

    def set_ef(self, ef: int) -> None:
        self.ef = ef

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q, k, ef_search=self.ef)[0]

    def query_filtered(self, q: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray | None:
        return self.index.search(q, k, allowed=allowed, ef_search=self.ef)[0]

    def delete(self, keys: np.ndarray) -> None:
        self.index.remove(keys)

    def save(self, path: Path) -> None:
        self.index.save(path)

    def load(self, path: Path) -> None:
        from lore.store.hnsw import HnswIndex
        self.index = HnswIndex.load(path)


class Hnswlib:
    _mask_src: np.ndarray | None = None
    _mask: np.ndarray
    filter_support = "native, Python callable per visited node"
    delete_support = "native (mark_deleted; replace_deleted reuses slots)"

    def build(self, keys: np.ndarray, data: np.ndarray) -> None:
        import hnswlib
        self.index = hnswlib.Index(space="ip", dim=DIM)
        self.index.init_index(max_elements=len(keys), M=M, ef_construction=EF_CONSTRUCTION,
                              allow_replace_deleted=True)
        self.index.add_items(data, keys, num_threads=os.cpu_count() or 1)
        self.n = len(keys)

    def set_ef(self, ef: int) -> None:
        self.index.set_ef(ef)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.index.knn_query(q, k=k, num_threads=1)[0][0])

    def query_filtered(self, q: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray | None:
        if self._mask_src is not allowed:
            self._mask_src, self._mask = allowed, np.zeros(self.n, dtype=bool)
            self._mask[allowed] = True
        mask = self._mask

        def keep(key: int) -> bool:
            return bool(mask[key])

        try:
            return np.asarray(self.index.knn_query(q, k=k, num_threads=1, filter=keep)[0][0])
        except RuntimeError:  # fewer than k found
            return np.empty(0, dtype=np.int64)

    def delete(self, keys: np.ndarray) -> None:
        for key in keys.tolist():
            self.index.mark_deleted(key)

    def save(self, path: Path) -> None:
        self.index.save_index(str(path))

    def load(self, path: Path) -> None:
        import hnswlib
        self.index = hnswlib.Index(space="ip", dim=DIM)
        self.index.load_index(str(path), max_elements=self.n)


class Faiss:
    _sel_src: np.ndarray | None = None
    _sel: Any
    index: Any
    deleted: Any
    filter_support = "native, IDSelector in SearchParametersHNSW (C++)"
    delete_support = "none for HNSW (remove_ids raises): emulate with IDSelectorNot"

    def build(self, keys: np.ndarray, data: np.ndarray) -> None:
        import faiss
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        base = faiss.IndexHNSWFlat(DIM, M, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = EF_CONSTRUCTION
        self.index = faiss.IndexIDMap2(base)
        self.index.add_with_ids(data, keys)
        faiss.omp_set_num_threads(1)
        self.ef, self.deleted = 16, None

    def set_ef(self, ef: int) -> None:
        self.ef = ef

    def _params(self, selector: Any = None) -> Any:
        faiss: Any = importlib.import_module("faiss")
        if self.deleted is not None:
            not_deleted = faiss.IDSelectorNot(self.deleted)
            both = not_deleted if selector is None else faiss.IDSelectorAnd(selector, not_deleted)
            self._alive = (selector, not_deleted, both)  # SWIG holds raw pointers
            selector = both
        if selector is None:
            return faiss.SearchParametersHNSW(efSearch=self.ef)
        return faiss.SearchParametersHNSW(efSearch=self.ef, sel=selector)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.index.search(q[None], k, params=self._params())[1][0])

    def query_filtered(self, q: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray | None:
        import faiss
        if self._sel_src is not allowed:
            self._sel_src, self._sel = allowed, faiss.IDSelectorBatch(allowed)
        found = self.index.search(q[None], k, params=self._params(self._sel))[1][0]
        return np.asarray(found[found >= 0])

    def delete(self, keys: np.ndarray) -> None:
        import faiss
        self._deleted_keys = keys
        self.deleted = faiss.IDSelectorBatch(keys)

    def save(self, path: Path) -> None:
        import faiss
        faiss.write_index(self.index, str(path))

    def load(self, path: Path) -> None:
        import faiss
        self.index = faiss.read_index(str(path))


ADAPTERS: dict[str, Callable[[], Any]] = {"usearch": Usearch, "hnswlib": Hnswlib,
                                           "faiss": Faiss}


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    hits = [len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def timed(fn: Callable[[np.ndarray], np.ndarray], queries: np.ndarray,
          ) -> tuple[list[np.ndarray], dict[str, float]]:
    for q in queries[:20]:
        fn(q)
    found, times = [], []
    for q in queries:
        start = time.perf_counter()
        found.append(fn(q))
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    return found, {"p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
                   "qps": float(1e3 / ms.mean())}


def worker_ann(library: str, n: int, data_dir: Path) -> dict[str, Any]:
    corpus = np.array(np.load(data_dir / "corpus.npy", mmap_mode="r")[:n])
    queries = np.load(data_dir / "queries.npy")
    truth = {name: np.load(data_dir / f"truth_{name}_{n}.npy")
             for name in ("all", "f10", "f1", "deleted")}
    allowed = {name: np.load(data_dir / f"allowed_{name}_{n}.npy") for name in ("f10", "f1")}
    deleted = np.load(data_dir / f"deleted_{n}.npy")
    keys = np.arange(n, dtype=np.int64)
    adapter = ADAPTERS[library]()
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    adapter.build(keys, corpus)
    build_s = time.perf_counter() - start
    memory_mb = rss_mb() - before
    sweep = []
    for ef in EF_SEARCH:
        adapter.set_ef(ef)
        found, lat = timed(lambda q: adapter.query(q, K), queries)
        sweep.append({"ef_search": ef, "recall_at_10": recall(found, truth["all"]), **lat})
    ef = next((int(s["ef_search"]) for s in sweep if s["recall_at_10"] >= TARGET_RECALL),
              EF_SEARCH[-1])
    adapter.set_ef(ef)
    filtered: dict[str, Any] = {}
    for name, keep in allowed.items():
        fq = queries[:FILTER_QUERIES]
        if adapter.query_filtered(fq[0], K, keep) is None:
            filtered[name] = None
            continue
        def query(q: np.ndarray, keep: np.ndarray = keep) -> np.ndarray:
            return adapter.query_filtered(q, K, keep)  # type: ignore[no-any-return]

        found, lat = timed(query, fq)
        leaked = sum(int(np.isin(f, keep, invert=True).sum()) for f in found)
        filtered[name] = {"recall_at_10": recall(found, truth[name][:FILTER_QUERIES]),
                          "short_results": sum(len(f) < K for f in found), "leaked": leaked, **lat}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index"
        adapter.save(path)
        files = list(path.iterdir()) if path.is_dir() else [path]
        disk_mb = sum(f.stat().st_size for f in files) / 2**20
        start = time.perf_counter()
        adapter.load(path)
        load_s = time.perf_counter() - start
    adapter.set_ef(ef)
    start = time.perf_counter()
    adapter.delete(deleted)
    delete_s = time.perf_counter() - start
    found, lat = timed(lambda q: adapter.query(q, K), queries)
    leaked = sum(int(np.isin(f, deleted).sum()) for f in found)
    return {"library": library, "n": n, "build_s": build_s, "memory_mb": memory_mb,
            "disk_mb": disk_mb, "load_s": load_s, "sweep": sweep, "ef_for_target": ef,
            "filtered": filtered,
            "after_delete": {"recall_at_10": recall(found, truth["deleted"]), "leaked": leaked,
                             "delete_s": delete_s, **lat},
            "filter_support": adapter.filter_support, "delete_support": adapter.delete_support}


def worker_exact(n: int, data_dir: Path) -> dict[str, Any]:
    from lore.store.flat import ExactIndex, top_k
    corpus = np.load(data_dir / "corpus.npy", mmap_mode="r")[:n]
    queries = np.load(data_dir / "queries.npy")[:300]
    index = ExactIndex(DIM)
    index.add(np.arange(n, dtype=np.int64), corpus)
    matrix = np.ascontiguousarray(corpus)
    rng = np.random.default_rng(SEED)
    result: dict[str, Any] = {"n": n, "loadavg": os.getloadavg()[0]}

    def search(q: np.ndarray) -> np.ndarray:
        return index.search(q, K)[0]

    def blas(q: np.ndarray) -> np.ndarray:
        return top_k(matrix @ q, K)

    _, result["plain"] = timed(search, queries)
    _, result["blas_all_cores"] = timed(blas, queries)
    try:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=1):
            _, result["blas_1_thread"] = timed(blas, queries)
    except ImportError:
        result["blas_1_thread"] = None
    for share in (0.1, 0.01):
        keep = rng.choice(n, size=max(1, int(n * share)), replace=False)

        def filtered(q: np.ndarray, keep: np.ndarray = keep) -> np.ndarray:
            return index.search(q, K, keep)[0]

        _, result[f"allowed_{share:g}"] = timed(filtered, queries)
    return result


def run_worker(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--worker", *args],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"worker {args[:2]} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def write(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def prepare(data_dir: Path, sizes: list[int], n_max: int, n_queries: int) -> dict[str, Any]:
    """Write the corpus, the queries and, per size in ``sizes``, the exact answers."""
    everything = make_mixture(n_max + n_queries, DIM, SEED)
    corpus, queries = everything[:n_max], everything[n_max:]
    np.save(data_dir / "corpus.npy", corpus)
    np.save(data_dir / "queries.npy", queries)
    rng = np.random.default_rng(SEED + 1)
    stats = {}
    for n in sizes:
        masks: dict[str, np.ndarray | None] = {"all": None}
        for name, share in (("f10", 0.1), ("f1", 0.01)):
            keep = np.sort(rng.choice(n, size=int(n * share), replace=False))
            np.save(data_dir / f"allowed_{name}_{n}.npy", keep)
            masks[name] = np.isin(np.arange(n), keep)
        deleted = np.arange(0, n, 10, dtype=np.int64)
        np.save(data_dir / f"deleted_{n}.npy", deleted)
        masks["deleted"] = np.arange(n) % 10 != 0
        truth = exact_top(corpus[:n], queries, masks)
        for name, rows in truth.items():
            np.save(data_dir / f"truth_{name}_{n}.npy", rows)
        stats[str(n)] = describe(corpus[:n], queries, truth["all"])
    return stats


def machine() -> dict[str, Any]:
    model = ""
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu_count": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
            "platform": platform.platform(),
            "versions": {lib: version(dist) for lib, dist in
                         (("numpy", "numpy"), ("usearch", "usearch"), ("hnswlib", "hnswlib"),
                          ("faiss", "faiss-cpu"))}}


def print_tables(report: dict[str, Any]) -> None:
    print(f"\nSYNTHETIC data (see docstring): dim {DIM}, {report['queries']} held-out queries; "
          f"M={M}, ef_construction={EF_CONSTRUCTION}; machine {report['machine']['cpu_count']} "
          f"CPUs {report['machine']['cpu_model']}; load average at start/end "
          f"{report['machine']['loadavg_start'][0]:.2f}/{report['machine']['loadavg_end'][0]:.2f}")
    for n, s in report["data_stats"].items():
        print(f"  n={n}: mean cos random pair {s['mean_cos_random_pair']:.3f}, "
              f"nn1 {s['mean_cos_nn1']:.3f}, nn10 {s['mean_cos_nn10']:.3f}")
    print("\nrecall@10 / single-thread p50 latency (ms) by ef_search")
    print(f"{'library':9} {'n':>7} " + " ".join(f"{'ef=' + str(ef):>15}" for ef in EF_SEARCH))
    for r in report["ann"]:
        cells = " ".join(f"{s['recall_at_10']:.3f}/{s['p50_ms']:7.3f}" for s in r["sweep"])
        print(f"{r['library']:9} {r['n']:>7} {cells}")
    print(f"\nat the smallest ef reaching recall@10 >= {TARGET_RECALL}")
    print(f"{'library':9} {'n':>7} {'build s':>8} {'mem MB':>7} {'disk MB':>8} {'load s':>7} "
          f"{'ef':>4} {'recall':>6} {'p50 ms':>7} {'p99 ms':>7} {'QPS':>7} "
          f"{'f10% rec/ms':>12} {'f1% rec/ms':>12} {'del rec/leak':>12}")
    for r in report["ann"]:
        s = next(s for s in r["sweep"] if s["ef_search"] == r["ef_for_target"])
        f = [("-" if r["filtered"][x] is None else
              f"{r['filtered'][x]['recall_at_10']:.2f}/{r['filtered'][x]['p50_ms']:.2f}")
             for x in ("f10", "f1")]
        d = r["after_delete"]
        print(f"{r['library']:9} {r['n']:>7} {r['build_s']:8.1f} {r['memory_mb']:7.0f} "
              f"{r['disk_mb']:8.0f} {r['load_s']:7.2f} {r['ef_for_target']:>4} "
              f"{s['recall_at_10']:6.3f} {s['p50_ms']:7.3f} {s['p99_ms']:7.3f} {s['qps']:7.0f} "
              f"{f[0]:>12} {f[1]:>12} {d['recall_at_10']:.3f}/{d['leaked']:<4}")
    print("\nsupport: filtered search / delete")
    for r in report["ann"]:
        if r["n"] == report["ann"][0]["n"]:
            print(f"  {r['library']:9} {r['filter_support']} / {r['delete_support']}")
    print("\nExactIndex single query p50 ms: lore (np.vecdot) | BLAS all cores | BLAS 1 thread"
          " | 10% allowed | 1% allowed")
    for r in report["exact"]:
        one = "-" if r["blas_1_thread"] is None else f"{r['blas_1_thread']['p50_ms']:7.3f}"
        print(f"  n={r['n']:>7}: {r['plain']['p50_ms']:7.3f} | "
              f"{r['blas_all_cores']['p50_ms']:7.3f} | {one:>7} | "
              f"{r['allowed_0.1']['p50_ms']:7.3f} | {r['allowed_0.01']['p50_ms']:7.3f}"
              f"   (load {r['loadavg']:.1f})")
    print("\nexact vs HNSW (usearch at its target ef); payback = HNSW build time / time saved")
    for row in report["threshold"]:
        print(f"  n={row['n']:>7}: exact {row['exact_p50_ms']:6.3f} ms, "
              f"hnsw {row['hnsw_p50_ms']:6.3f} ms, build ~{row['hnsw_build_s']:5.1f} s, "
              f"payback {row['payback_queries']:>9,.0f} queries")


def threshold_table(report: dict[str, Any]) -> list[dict[str, float]]:
    """Per exact size: exact latency next to usearch latency and build time at the nearest
    measured size (build time scaled linearly), and how many queries repay the build."""
    graphs = [r for r in report["ann"] if r["library"] == "usearch"]
    rows = []
    for r in report["exact"] if graphs else []:
        near = min(graphs, key=lambda g: abs(math.log(g["n"] / r["n"])))
        hnsw = next(s for s in near["sweep"] if s["ef_search"] == near["ef_for_target"])["p50_ms"]
        build = near["build_s"] * r["n"] / near["n"]
        saved = r["plain"]["p50_ms"] - hnsw
        rows.append({"n": r["n"], "exact_p50_ms": r["plain"]["p50_ms"], "hnsw_p50_ms": hnsw,
                     "hnsw_build_s": build,
                     "payback_queries": build * 1e3 / saved if saved > 0 else math.inf})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--exact-sizes", type=int, nargs="+", default=list(EXACT_SIZES))
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES))
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "ann_choice.json")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, n, data_dir = args.worker[0], int(args.worker[1]), Path(args.worker[2])
        result = worker_exact(n, data_dir) if kind == "exact" else worker_ann(kind, n, data_dir)
        print(json.dumps(result))
        return
    report: dict[str, Any] = {"machine": machine(), "queries": args.queries, "k": K,
                              "params": {"M": M, "ef_construction": EF_CONSTRUCTION,
                                         "ef_search": EF_SEARCH, "target_recall": TARGET_RECALL},
                              "data": "synthetic Gaussian-mixture embeddings, not real text",
                              "mixture": MIXTURE}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        report["data_stats"] = prepare(data_dir, sorted(args.sizes),
                                       max(args.sizes + args.exact_sizes), args.queries)
        report["ann"] = []
        for n in sorted(args.sizes):
            for library in args.libraries:
                print(f"{library} n={n} ...", file=sys.stderr, flush=True)
                report["ann"].append(run_worker([library, str(n), str(data_dir)]))
                write(report, args.out)  # partial results survive a failure later on
        report["exact"] = []
        for n in sorted(args.exact_sizes):
            print(f"exact n={n} ...", file=sys.stderr, flush=True)
            report["exact"].append(run_worker(["exact", str(n), str(data_dir)]))
            write(report, args.out)
    report["threshold"] = threshold_table(report)
    report["elapsed_s"] = time.perf_counter() - started
    report["machine"]["loadavg_end"] = os.getloadavg()
    print_tables(report)
    write(report, args.out)
    print(f"\nwrote {args.out} in {report['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
