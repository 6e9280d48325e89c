"""Two ``lore serve`` replicas over one PostgreSQL: shared keys, collections and jobs, and a
16-client search load spread over both.

    python benchmarks/replicas.py                    # 1,000 SciFact documents, 16 clients
    python benchmarks/replicas.py --docs 300 --requests 400      # a quick run

PostgreSQL is the server named by ``LORE_TEST_POSTGRES``, or one started from the
``pgserver`` wheel (``lore.testing.postgres``); the run uses fresh schemas in it. Two replicas
run as real ``lore serve`` subprocesses, each with its own data folder, both given the same
``LORE_STORE``. An admin key is made as ``lore keys create --store`` makes it, before either
starts.

1. Ingestion: ``--docs`` SciFact documents go to replica A in JSON batches of ``--batch``,
   one job each; both replicas' workers take jobs from the one queue. Every job must end
   done after exactly one attempt.
2. Visibility: through each replica, the document list, the collection's count and a search
   for each of ``--title-checks`` exact titles must show every document once.
3. Search load: ``--clients`` clients send ``--requests`` hybrid k=10 searches (SciFact test
   claims, text only), first all to replica A alone, then alternating between A and B. Goal:
   no errors (any non-200) in either. Both replicas share this machine's cores with
   PostgreSQL and the clients, so the second phase shows the cost of spreading load, not the
   gain of a second machine.

Writes ``results/replicas.json`` and ``results/replicas.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
from common import machine
from rich.console import Console
from rich.table import Table
from serve import (
    Exit,
    Load,
    Row,
    client,
    corpus,
    counted,
    document_list,
    free_port,
    questions,
    search_loop,
    serving,
    upload,
)

from lore.serve.control import PostgresControl
from lore.serve.keys import ANY_COLLECTION, KeyStore
from lore.store.postgres import with_schema
from lore.testing import postgres

RESULTS = Path(__file__).resolve().parent / "results"
console = Console()


def admin_key(store: str) -> str:
    keys = KeyStore(PostgresControl(store))
    try:
        return keys.create(ANY_COLLECTION, "admin", label="benchmarks/replicas.py")
    finally:
        keys.close()


async def finished_jobs(http: httpx.AsyncClient, jobs: list[str], deadline: float
                        ) -> list[dict[str, object]]:
    """Poll until no job is queued or running; each job's final record."""
    final: dict[str, dict[str, object]] = {}
    while len(final) < len(jobs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(jobs) - len(final)} jobs were not done in time")
        for job in jobs:
            if job not in final:
                record = (await http.get(f"/collections/scifact/jobs/{job}")).json()
                if record["state"] not in ("queued", "running"):
                    final[job] = record
        await asyncio.sleep(0.5)
    return [final[job] for job in jobs]


async def ingest(a: httpx.AsyncClient, documents: list[dict[str, str]], batch: int,
                 deadline: float) -> list[Row]:
    (await a.post("/collections", json={"name": "scifact"})).raise_for_status()
    started = time.perf_counter()
    jobs = await upload(a, "scifact", documents, batch)
    records = await finished_jobs(a, jobs, deadline)
    seconds = time.perf_counter() - started
    once = sum(r["state"] == "done" and r["attempts"] == 1 for r in records)
    return [Row("ingest", "jobs", len(jobs)),
            Row("ingest", "jobs done after one attempt", once, f"== {len(jobs)}",
                once == len(jobs)),
            Row("ingest", "documents/s", round(len(documents) / seconds, 1))]


async def visibility(name: str, http: httpx.AsyncClient, documents: list[dict[str, str]],
                     titles: int, deadline: float) -> list[Row]:
    listed = await document_list(http, "scifact", deadline)
    names = [str(d["name"]) for d in listed]
    count = (await http.get("/collections/scifact")).json()["documents"]
    found = 0
    for document in documents[:titles]:
        hits = (await http.get("/collections/scifact/search",
                               params={"q": document["title"], "k": 10})).json()["hits"]
        chunks = [(h["doc_key"], h["chunk"]["text"]) for h in hits]  # hits are chunks
        found += document["id"] in {key for key, _ in chunks} and len(set(chunks)) == len(chunks)
    want = len(documents)
    return [Row("visible", f"{name}: documents listed once", len(set(names)),
                f"== {want}", len(set(names)) == len(names) == want),
            Row("visible", f"{name}: collection count", count, f"== {want}", count == want),
            Row("visible", f"{name}: titles found, no copies", found, f"== {titles}",
                found == titles)]


async def spread_load(hosts: list[httpx.AsyncClient], queries: list[str], clients: int,
                      budget: Callable[[], bool]) -> Load:
    """``clients`` clients; client i sends to ``hosts[i % len(hosts)]``."""
    load = Load()
    cycle = itertools.cycle(queries)
    started = time.perf_counter()
    await asyncio.gather(*(search_loop(hosts[i % len(hosts)], "scifact", cycle, load, budget)
                           for i in range(clients)))
    load.seconds = time.perf_counter() - started
    return load


async def search_phases(a: httpx.AsyncClient, b: httpx.AsyncClient, args: argparse.Namespace
                        ) -> list[Row]:
    queries = questions()
    rows: list[Row] = []
    for phase, hosts in (("one replica", [a]), ("two replicas", [a, b])):
        await spread_load(hosts, queries, args.clients, counted(args.warmup, time.monotonic()
                                                                 + 300))
        load = await spread_load(hosts, queries, args.clients,
                                 counted(args.requests, time.monotonic() + args.deadline))
        rows += [Row(phase, "requests", load.requests),
                 Row(phase, "requests/s", round(load.rate(), 1)),
                 *(Row(phase, f"p{p} ms", round(load.percentile(p), 1)) for p in (50, 90, 99)),
                 Row(phase, "errors", load.errors, "0", load.errors == 0, load.samples)]
    return rows


@contextlib.asynccontextmanager
async def clients(ports: list[int], token: str, connections: int
                  ) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(client(port, token, connections, 600))
               for port in ports]


async def measure(ports: list[int], token: str, args: argparse.Namespace) -> list[Row]:
    documents = corpus(args.docs)
    deadline = time.monotonic() + args.deadline
    async with clients(ports, token, args.clients) as (a, b):
        rows = await ingest(a, documents, args.batch, deadline)
        for name, http in (("A", a), ("B", b)):
            rows += await visibility(name, http, documents, args.title_checks, deadline)
        rows += await search_phases(a, b, args)
    return rows


@contextlib.contextmanager
def two_replicas(store: str, folder: Path, exits: list[Exit]) -> Iterator[list[int]]:
    env = dict(os.environ, LORE_STORE=store)
    ports = [free_port(), free_port()]
    with contextlib.ExitStack() as stack:
        for name, port in zip("ab", ports, strict=True):
            stack.enter_context(serving(folder / name, port, env, 300, exits))
        yield ports


def run(args: argparse.Namespace) -> list[Row]:
    url = args.url or postgres.server_url()
    store = with_schema(url, f"replicas_{os.getpid()}")
    token = admin_key(store)
    exits: list[Exit] = []
    with tempfile.TemporaryDirectory(prefix="lore-replicas-") as folder:
        for name in "ab":
            (Path(folder) / name).mkdir()
        with two_replicas(store, Path(folder), exits) as ports:
            rows = asyncio.run(measure(ports, token, args))
    clean = sum(e.clean for e in exits)
    rows.append(Row("shutdown", "replicas that stopped cleanly", clean, "== 2", clean == 2))
    return rows


def table(rows: list[Row]) -> Table:
    shown = Table("phase", "metric", "value", "goal", "met")
    for r in rows:
        shown.add_row(r.phase, r.metric, str(r.value), r.goal,
                      "" if r.met is None else ("yes" if r.met else "NO"))
    return shown


def write(rows: list[Row], settings: dict[str, object]) -> None:
    RESULTS.mkdir(exist_ok=True)
    records = [{"phase": r.phase, "metric": r.metric, "value": r.value, "goal": r.goal,
                "met": r.met, "detail": r.detail} for r in rows]
    (RESULTS / "replicas.json").write_text(json.dumps({"settings": settings, "rows": records},
                                                      indent=2) + "\n")
    lines = [f"`{settings['command']}` on {settings['cpu']}", "",
             "| phase | metric | value | goal | met |", "|---|---|---|---|---|"]
    lines += [f"| {r.phase} | {r.metric} | {r.value} | {r.goal} | "
              f"{'' if r.met is None else ('yes' if r.met else 'no')} |" for r in rows]
    (RESULTS / "replicas.md").write_text("\n".join(lines) + "\n")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--url", help="a PostgreSQL URL (default: LORE_TEST_POSTGRES, else pgserver)")
    add("--docs", type=int, default=1000)
    add("--batch", type=int, default=100)
    add("--title-checks", type=int, default=20)
    add("--clients", type=int, default=16)
    add("--requests", type=int, default=2000, help="searches in each load phase")
    add("--warmup", type=int, default=200, help="unmeasured searches before each phase")
    add("--deadline", type=float, default=1800)
    return parser


def main() -> int:
    args = parser().parse_args()
    rows = run(args)
    console.print(table(rows))
    settings: dict[str, object] = dict(vars(args))
    settings["command"] = " ".join(["python benchmarks/replicas.py", *sys.argv[1:]])
    settings["cpu"] = machine()["cpu"]
    write(rows, settings)
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
