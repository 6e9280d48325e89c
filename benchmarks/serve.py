"""Load on ``lore serve``: search throughput, search during ingestion, and the answer queue.

A real ``lore serve`` runs as a subprocess on 127.0.0.1; this process is the load: asyncio
clients sharing one keep-alive ``httpx.AsyncClient`` pool. The full run is one command:

    python benchmarks/serve.py

A small smoke run (a separate, smaller data directory):

    python benchmarks/serve.py --corpus-docs 300 --search-requests 300 \\
        --ingest-docs 300 --ask-questions 1 --generator smollm2

Phases (``--phases``, comma-separated; ``setup`` always runs first):

- setup: an admin key is made with ``KeyStore`` in ``DATA/keys.db`` before the server starts;
  the collection ``scifact`` gets the SciFact corpus through the API (JSON documents, batches
  of ``--setup-batch``) and the jobs are polled until done. The data directory (default
  ``~/.cache/lore/serve-bench/scifact-<docs>``) is reused: documents already there are not
  sent again, so a rerun goes straight to the load.
- search: ``--search-clients`` clients send ``--search-requests`` hybrid k=10
  ``GET /collections/scifact/search`` with the SciFact test queries (text only), cycled.
  Goals: >= 200 req/s, p99 <= 150 ms, no errors (any non-200).
- ingest: a fresh collection ``live`` is fed ``--ingest-docs`` SciFact documents (JSON batches
  of ``--ingest-batch``) by a background task while ``--search-clients`` clients search it
  until every job is done. Afterwards every document must be there exactly once (document
  list, collection count, and exact-title searches). Goals: no errors, p99 <= 500 ms.
- isolation: collections ``secret`` (holding a marker text) and ``other``;
  ``lore.testing.isolation`` tries every route with missing, malformed, unknown, revoked and
  foreign (read and write) keys. Goal: 0 leaks.
- ask: ``--ask-clients`` clients each ask ``--ask-questions`` SciFact claims
  (``POST /collections/scifact/ask``, ``"stream": false``) with the default answer queue
  (``LORE_ASK_QUEUE=4``): all must succeed. Then the server restarts with
  ``LORE_ASK_QUEUE=1`` and ``--burst-clients`` clients ask at once: only 200s, and 503s that
  carry Retry-After, are allowed.

Every request loop is bounded by a count and a deadline. The server is stopped with SIGTERM
at the end and must exit with status 0. Writes ``results/serve.json`` and ``results/serve.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from common import load_beir, machine
from rich.console import Console
from rich.table import Table

from lore.serve.control import SqliteControl
from lore.serve.keys import ANY_COLLECTION, KeyStore
from lore.testing.isolation import probe
from lore.testing.server import wait_for_job

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path.home() / ".cache" / "lore" / "serve-bench"
HOST = "127.0.0.1"
PHASES = ("search", "ingest", "ask", "isolation")
TITLE_CHECKS = 5
"""Documents of ``live`` looked up by their exact title after ingestion."""
ERROR_SAMPLES = 3
"""Errors of each status kept as samples."""
console = Console()


# -- results ------------------------------------------------------------------------------


@dataclass
class Row:
    phase: str
    metric: str
    value: float | int | str
    goal: str = ""
    met: bool | None = None
    detail: list[str] = field(default_factory=list)
    """Kept in the JSON only: e.g. the first errors seen."""


@dataclass
class Load:
    """What a set of request loops saw: latencies of 200s (ms) and every status."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    samples: list[str] = field(default_factory=list)
    """The first errors of each status: when (s into the load), status and message."""

    def error(self, status: str, message: str) -> None:
        if sum(sample.split()[1] == status for sample in self.samples) < ERROR_SAMPLES:
            elapsed = time.perf_counter() - self.started
            self.samples.append(f"{elapsed:.1f}s {status} {message[:300]}")

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return self.requests - self.statuses.get("200", 0)

    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in ms (0 when there are none)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def load_rows(phase: str, load: Load, p99_goal: float, rate_goal: float | None) -> list[Row]:
    """Throughput, latency and error rows for one load, with their goals."""
    rate = load.rate()
    rows = [Row(phase, "requests", load.requests)]
    rows.append(Row(phase, "requests/s", round(rate, 1),
                    f">= {rate_goal:g}" if rate_goal else "",
                    rate >= rate_goal if rate_goal else None))
    rows += [Row(phase, f"p{p} ms", round(load.percentile(p), 1)) for p in (50, 90)]
    p99 = load.percentile(99)
    rows.append(Row(phase, "p99 ms", round(p99, 1), f"<= {p99_goal:g}",
                    p99 <= p99_goal and bool(load.latencies)))
    rows.append(Row(phase, "errors", load.errors, "0", load.errors == 0, load.samples))
    if load.errors:
        rows.append(Row(phase, "statuses", json.dumps(dict(load.statuses))))
    return rows


# -- the corpus ---------------------------------------------------------------------------


def corpus(limit: int) -> list[dict[str, str]]:
    """The first ``limit`` SciFact documents as API documents (metadata is not read)."""
    documents = []
    with open(DATA / "corpus.jsonl") as handle:
        for line in itertools.islice(handle, limit):
            record = json.loads(line)
            documents.append({"id": str(record["_id"]), "title": record.get("title", ""),
                              "text": record["text"]})
    return documents


def questions() -> list[str]:
    """The SciFact test claims, text only."""
    queries, _ = load_beir(DATA, "test")
    return [text.strip() for text in queries.values()]


def batches(items: list[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def admin_key(data_dir: Path) -> str:
    """A new admin key in the server's key file (made before the server starts)."""
    store = KeyStore(SqliteControl(data_dir / "keys.db"))
    try:
        return store.create(ANY_COLLECTION, "admin", label="benchmarks/serve.py")
    finally:
        store.close()


@dataclass
class Exit:
    """How a server stopped: a graceful uvicorn exit is status 0 or -SIGTERM (uvicorn raises
    the signal again once it has shut down); killed after the timeout is -9."""

    code: int
    seconds: float
    traceback: bool

    @property
    def clean(self) -> bool:
        return self.code in (0, -signal.SIGTERM) and not self.traceback


@dataclass
class Server:
    """One ``lore serve`` subprocess; its output goes to ``DATA/server.log``."""

    data_dir: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def start(self, timeout: float) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 (the child owns it)
        command = [sys.executable, "-m", "lore.cli", "serve", "--host", HOST, "--port",
                   str(self.port), "--data", str(self.data_dir)]
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"lore serve exited with {self.process.returncode}; see "
                                   f"{self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{HOST}:{self.port}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.25)
        self.stop(10)
        raise RuntimeError(f"lore serve was not ready within {timeout:.0f} s")

    def stop(self, timeout: float) -> Exit:
        """SIGTERM, then wait; a server that does not stop in time is killed (exit -9)."""
        if self.process is None:
            return Exit(0, 0.0, False)
        logged = self.log.stat().st_size
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = -9
        self.process = None
        with open(self.log, "rb") as handle:
            handle.seek(logged)
            traceback = b"Traceback" in handle.read()
        return Exit(code, time.monotonic() - started, traceback)


@contextlib.contextmanager
def serving(data_dir: Path, port: int, env: dict[str, str], timeout: float,
            exits: list[Exit]) -> Iterator[Server]:
    """A running server for the block; its exit status is appended to ``exits``."""
    server = Server(data_dir, port, env)
    try:
        server.start(timeout)
        yield server
    finally:
        exits.append(server.stop(60))


def server_env(generator: str | None, ask_queue: int) -> dict[str, str]:
    env = dict(os.environ, LORE_ASK_QUEUE=str(ask_queue))
    if generator:
        env["LORE_GENERATOR"] = generator
    return env


@contextlib.asynccontextmanager
async def client(port: int, token: str, connections: int, timeout: float
                 ) -> AsyncIterator[httpx.AsyncClient]:
    """One keep-alive pool for every simulated client."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", limits=limits,
                                 timeout=timeout, trust_env=False,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


# -- ingestion through the API ------------------------------------------------------------


async def ensure_collection(http: httpx.AsyncClient, name: str, fresh: bool) -> None:
    """Create ``name``; with ``fresh``, delete an existing one first."""
    exists = (await http.get(f"/collections/{name}")).status_code == 200
    if exists and fresh:
        (await http.delete(f"/collections/{name}")).raise_for_status()
    if fresh or not exists:
        (await http.post("/collections", json={"name": name})).raise_for_status()


async def document_list(http: httpx.AsyncClient, name: str, deadline: float
                        ) -> list[dict[str, object]]:
    """Every API document record of a collection, paged 1,000 at a time."""
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        response = await http.get(f"/collections/{name}/documents",
                                  params={"offset": len(found), "limit": 1000})
        response.raise_for_status()
        page = response.json()
        found += page["documents"]
        if not page["documents"] or len(found) >= page["total"]:
            return found
    raise TimeoutError(f"listing the documents of {name} ran past its deadline")


async def upload(http: httpx.AsyncClient, name: str, documents: list[dict[str, str]],
                 size: int) -> list[str]:
    """POST the documents in batches; the ids of the jobs made."""
    jobs = []
    for batch in batches(documents, size):
        response = await http.post(f"/collections/{name}/documents", json={"documents": batch})
        response.raise_for_status()
        jobs.append(str(response.json()["job"]["id"]))
    return jobs


async def wait_jobs(http: httpx.AsyncClient, name: str, jobs: list[str], deadline: float
                    ) -> dict[str, str]:
    """Poll until every job is done, failed or cancelled; the final state of each."""
    final: dict[str, str] = {}
    while len(final) < len(jobs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(jobs) - len(final)} jobs of {name} were not done in time")
        for job in jobs:
            if job not in final:
                state = (await http.get(f"/collections/{name}/jobs/{job}")).json()["state"]
                if state in ("done", "failed", "cancelled"):
                    final[job] = state
        await asyncio.sleep(0.5)
    return final


async def setup(http: httpx.AsyncClient, documents: list[dict[str, str]], batch: int,
                deadline: float) -> list[Row]:
    """``scifact`` holds the corpus: only documents it lacks are sent."""
    await ensure_collection(http, "scifact", fresh=False)
    present = {str(d["name"]) for d in await document_list(http, "scifact", deadline)}
    missing = [d for d in documents if f"{d['id']}.json" not in present]
    started = time.perf_counter()
    jobs = await upload(http, "scifact", missing, batch)
    states = await wait_jobs(http, "scifact", jobs, deadline)
    seconds = time.perf_counter() - started
    count = (await http.get("/collections/scifact")).json()["documents"]
    rows = [Row("setup", "documents sent now", len(missing)),
            Row("setup", "scifact documents", count, f"== {len(documents)}",
                count == len(documents))]
    if missing:
        rows.append(Row("setup", "load docs/s", round(len(missing) / seconds, 1)))
    failed = sum(state != "done" for state in states.values())
    if failed:
        rows.append(Row("setup", "jobs not done", failed, "0", False))
    return rows


# -- search load --------------------------------------------------------------------------


async def search_loop(http: httpx.AsyncClient, name: str, queries: Iterator[str],
                      load: Load, budget: Callable[[], bool]) -> None:
    """One client: search while ``budget()`` allows, recording every outcome."""
    while budget():
        query = next(queries)
        started = time.perf_counter()
        try:
            response = await http.get(f"/collections/{name}/search",
                                      params={"q": query, "k": 10})
            status, message = str(response.status_code), response.text
        except httpx.HTTPError as error:
            status, message = type(error).__name__, repr(error)
        if status == "200":
            load.latencies.append((time.perf_counter() - started) * 1000)
        else:
            load.error(status, message)
        load.statuses[status] += 1


def counted(total: int, deadline: float, stop: asyncio.Event | None = None
            ) -> Callable[[], bool]:
    """A shared budget: ``total`` requests in all, before ``deadline``, until ``stop``."""
    issued = itertools.count()

    def allow() -> bool:
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            return False
        return next(issued) < total
    return allow


async def search_load(http: httpx.AsyncClient, name: str, queries: list[str], clients: int,
                      budget: Callable[[], bool]) -> Load:
    load = Load()
    cycle = itertools.cycle(queries)
    started = time.perf_counter()
    await asyncio.gather(*(search_loop(http, name, cycle, load, budget)
                           for _ in range(clients)))
    load.seconds = time.perf_counter() - started
    return load


async def search_phase(http: httpx.AsyncClient, queries: list[str], args: argparse.Namespace
                       ) -> list[Row]:
    warm = time.monotonic() + 120
    await search_load(http, "scifact", queries, args.search_clients,
                      counted(args.warmup, warm))
    deadline = time.monotonic() + args.search_deadline
    load = await search_load(http, "scifact", queries, args.search_clients,
                             counted(args.search_requests, deadline))
    rows = load_rows("search", load, 150, 200)
    rows.append(Row("search", "all requests sent", load.requests,
                    f"== {args.search_requests}", load.requests == args.search_requests))
    return rows


# -- search during ingestion --------------------------------------------------------------


async def ingest_in_background(http: httpx.AsyncClient, documents: list[dict[str, str]],
                               batch: int, deadline: float, done: asyncio.Event
                               ) -> tuple[float, dict[str, str]]:
    """Upload into ``live`` and wait for its jobs; seconds taken and the jobs' states."""
    started = time.perf_counter()
    try:
        jobs = await upload(http, "live", documents, batch)
        states = await wait_jobs(http, "live", jobs, deadline)
    finally:
        done.set()
    return time.perf_counter() - started, states


async def verify_live(http: httpx.AsyncClient, documents: list[dict[str, str]],
                      deadline: float) -> list[Row]:
    """Every document is in ``live`` exactly once, and exact titles find theirs."""
    want = len(documents)
    records = await document_list(http, "live", deadline)
    names = Counter(str(r["name"]) for r in records if r["state"] == "indexed")
    expected = {f"{d['id']}.json" for d in documents}
    once = set(names) == expected and all(n == 1 for n in names.values())
    count = (await http.get("/collections/live")).json()["documents"]
    found = await title_checks(http, documents)
    return [Row("ingest", "indexed API documents", sum(names.values()), f"== {want}",
                sum(names.values()) == want and len(records) == want),
            Row("ingest", "each document exactly once", str(once), "True", once),
            Row("ingest", "collection documents", count, f"== {want}", count == want),
            Row("ingest", "exact titles found", f"{found}/{TITLE_CHECKS}",
                f"{TITLE_CHECKS}/{TITLE_CHECKS}", found == TITLE_CHECKS)]


async def title_checks(http: httpx.AsyncClient, documents: list[dict[str, str]]) -> int:
    """How many of a spread of documents a search for their exact title ranks in the top 10."""
    titled = [d for d in documents if d["title"].strip()]
    step = max(1, len(titled) // TITLE_CHECKS)
    found = 0
    for document in titled[::step][:TITLE_CHECKS]:
        response = await http.get("/collections/live/search",
                                  params={"q": document["title"][:500], "k": 10})
        keys = {hit.get("doc_key") for hit in response.json().get("hits", [])}
        found += document["id"] in keys
    return found


async def ingest_phase(http: httpx.AsyncClient, documents: list[dict[str, str]],
                       queries: list[str], args: argparse.Namespace) -> list[Row]:
    await ensure_collection(http, "live", fresh=True)
    deadline = time.monotonic() + args.ingest_deadline
    done = asyncio.Event()
    feeding = asyncio.create_task(
        ingest_in_background(http, documents, args.ingest_batch, deadline, done))
    load = await search_load(http, "live", queries, args.search_clients,
                             counted(args.ingest_max_searches, deadline, done))
    seconds, states = await feeding
    rows = load_rows("ingest", load, 500, None)
    failed = sum(state != "done" for state in states.values())
    rows += [Row("ingest", "jobs not done", failed, "0", failed == 0),
             Row("ingest", "ingestion s", round(seconds, 1)),
             Row("ingest", "ingestion docs/s", round(len(documents) / seconds, 1))]
    return rows + await verify_live(http, documents, deadline + 120)


# -- asking -------------------------------------------------------------------------------


@dataclass
class Asked:
    status: str
    seconds: float
    retry_after: str | None


async def ask_one(http: httpx.AsyncClient, question: str) -> Asked:
    started = time.perf_counter()
    try:
        response = await http.post("/collections/scifact/ask",
                                   json={"question": question, "stream": False})
        status, retry = str(response.status_code), response.headers.get("retry-after")
    except httpx.HTTPError as error:
        status, retry = type(error).__name__, None
    return Asked(status, time.perf_counter() - started, retry)


async def ask_client(http: httpx.AsyncClient, mine: list[str], deadline: float
                     ) -> list[Asked]:
    """One client asks its questions one after another, until the deadline."""
    asked = []
    for question in mine:
        if time.monotonic() > deadline:
            break
        asked.append(await ask_one(http, question))
    return asked


async def ask_round(http: httpx.AsyncClient, claims: list[str], clients: int, each: int,
                    deadline: float) -> list[Asked]:
    """``clients`` concurrent clients, each with its own ``each`` questions."""
    shares = [claims[i * each:(i + 1) * each] for i in range(clients)]
    results = await asyncio.gather(*(ask_client(http, share, deadline) for share in shares))
    return [asked for result in results for asked in result]


async def warm_answers(http: httpx.AsyncClient, claims: list[str]) -> None:
    """Unmeasured questions, one at a time: the model loads before the clock starts."""
    for claim in claims:
        await ask_one(http, claim)


def ask_rows(phase: str, asked: list[Asked]) -> list[Row]:
    statuses = Counter(a.status for a in asked)
    ok = [a.seconds for a in asked if a.status == "200"]
    return [Row(phase, "statuses", json.dumps(dict(sorted(statuses.items())))),
            Row(phase, "median s (200s)", round(statistics.median(ok), 2) if ok else "-"),
            Row(phase, "max s (200s)", round(max(ok), 2) if ok else "-")]


def queued_rows(asked: list[Asked], wanted: int) -> list[Row]:
    ok = sum(a.status == "200" for a in asked)
    return [*ask_rows("ask", asked),
            Row("ask", "answered", f"{ok}/{wanted}", f"{wanted}/{wanted}", ok == wanted)]


def burst_rows(asked: list[Asked]) -> list[Row]:
    refused = [a for a in asked if a.status == "503"]
    other = [a for a in asked if a.status not in ("200", "503")]
    with_retry = sum(a.retry_after is not None and a.retry_after.isdigit() for a in refused)
    return [*ask_rows("ask burst", asked),
            Row("ask burst", "statuses other than 200/503", len(other), "0", not other),
            Row("ask burst", "503s with Retry-After", f"{with_retry}/{len(refused)}",
                "all", with_retry == len(refused)),
            Row("ask burst", "503s (queue bound works)", len(refused), "> 0", bool(refused))]


# -- isolation ------------------------------------------------------------------------------

MARKER = "zebra-quartz-17"


def isolation_phase(port: int, token: str, data_dir: Path) -> list[Row]:
    """Every route with missing, malformed, unknown, revoked and foreign keys: 0 leaks."""
    admin = {"Authorization": f"Bearer {token}"}
    store = KeyStore(SqliteControl(data_dir / "keys.db"))
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60) as http:
        for name in ("secret", "other"):
            http.post("/collections", json={"name": name}, headers=admin)
        job = http.post("/collections/secret/documents", headers=admin, json={"documents": [
            {"id": "vault", "title": "Vault", "text": f"The vault code is {MARKER}."}]})
        wait_for_job(http, "secret", job.json()["job"]["id"], admin)
        revoked = store.create("secret", "write", label="probe: revoked")
        store.revoke(revoked.split("_")[1])
        schema = http.get("/openapi.json").json()
        requests, leaks = 0, []
        for scope in ("read", "write"):
            foreign = store.create("other", scope, label=f"probe: foreign {scope}")
            report = probe(http, schema, victim="secret", marker=MARKER,
                           keys={"revoked": revoked, "foreign": foreign})
            requests += report.requests
            leaks += report.leaks
        http.delete("/collections/secret", headers=admin)
        http.delete("/collections/other", headers=admin)
    store.close()
    return [Row("isolation", "probe requests", requests),
            Row("isolation", "leaks", len(leaks), "0", not leaks, leaks[:5])]


# -- running it all -----------------------------------------------------------------------


async def first_server(port: int, token: str, args: argparse.Namespace,
                       phases: set[str]) -> list[Row]:
    """setup, search, ingest and the queued ask round against one server."""
    documents = corpus(args.corpus_docs)
    claims = questions()
    async with client(port, token, max(args.search_clients, args.ask_clients) + 2,
                      args.request_timeout) as http:
        rows = await setup(http, documents, args.setup_batch,
                           time.monotonic() + args.setup_deadline)
        if "search" in phases:
            rows += await search_phase(http, claims, args)
        if "ingest" in phases:
            rows += await ingest_phase(http, corpus(args.ingest_docs), claims, args)
        if "ask" in phases:
            deadline = time.monotonic() + args.ask_deadline
            await warm_answers(http, claims[-args.ask_warmup:] if args.ask_warmup else [])
            asked = await ask_round(http, claims, args.ask_clients, args.ask_questions,
                                    deadline)
            rows += queued_rows(asked, args.ask_clients * args.ask_questions)
    return rows


async def burst(port: int, token: str, args: argparse.Namespace) -> list[Row]:
    claims = questions()[::-1]  # other claims than the queued round's
    async with client(port, token, args.burst_clients + 2, args.request_timeout) as http:
        await warm_answers(http, claims[-args.ask_warmup:] if args.ask_warmup else [])
        asked = await ask_round(http, claims, args.burst_clients, 1,
                                time.monotonic() + args.ask_deadline)
    return burst_rows(asked)


def run(args: argparse.Namespace) -> list[Row]:
    phases = set(args.phases.split(","))
    unknown = phases - set(PHASES) - {"setup"}
    if unknown:
        raise SystemExit(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    data_dir = (args.data or CACHE / f"scifact-{args.corpus_docs}").expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = admin_key(data_dir)
    port = args.port or free_port()
    exits: list[Exit] = []
    with serving(data_dir, port, server_env(args.generator, 4), args.start_timeout, exits):
        rows = asyncio.run(first_server(port, token, args, phases))
        if "isolation" in phases:
            rows += isolation_phase(port, token, data_dir)
    if "ask" in phases:
        with serving(data_dir, port, server_env(args.generator, 1), args.start_timeout, exits):
            rows += asyncio.run(burst(port, token, args))
    rows.append(Row("server", "SIGTERM exits", ", ".join(
        f"{e.code} in {e.seconds:.1f}s{' traceback' if e.traceback else ''}" for e in exits),
        "0 or -15, no traceback", all(e.clean for e in exits)))
    return rows


def table(rows: list[Row]) -> Table:
    out = Table(title="lore serve under load")
    for column in ("phase", "metric", "value", "goal", "met?"):
        out.add_column(column)
    for row in rows:
        met = "" if row.met is None else "[green]yes" if row.met else "[red]no"
        out.add_row(row.phase, row.metric, str(row.value), row.goal, met)
    return out


def markdown(rows: list[Row], settings: dict[str, object]) -> str:
    lines = ["# lore serve under load", "", f"`{settings['command']}` on {settings['cpu']}", "",
             "| phase | metric | value | goal | met? |", "|---|---|---|---|---|"]
    for row in rows:
        met = "" if row.met is None else "yes" if row.met else "**no**"
        lines.append(f"| {row.phase} | {row.metric} | {row.value} | {row.goal} | {met} |")
    return "\n".join(lines) + "\n"


def write(rows: list[Row], settings: dict[str, object]) -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {"machine": machine(), "settings": settings, "rows": [asdict(r) for r in rows],
               "all_goals_met": all(r.met is not False for r in rows)}
    (RESULTS / "serve.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    (RESULTS / "serve.md").write_text(markdown(rows, settings))


def parser() -> argparse.ArgumentParser:
    add = (parser := argparse.ArgumentParser(description=__doc__.split("\n")[0])).add_argument
    add("--phases", default=",".join(PHASES), help="search,ingest,ask (setup always runs)")
    add("--data", type=Path, help=f"server data dir (default {CACHE}/scifact-<docs>)")
    add("--port", type=int, default=0, help="server port (default: a free one)")
    add("--generator", help="answer model for the server (LORE_GENERATOR)")
    add("--corpus-docs", type=int, default=5183, help="SciFact documents in 'scifact'")
    add("--setup-batch", type=int, default=500)
    add("--setup-deadline", type=float, default=7200)
    add("--warmup", type=int, default=32, help="unmeasured searches before the search load")
    add("--search-clients", type=int, default=16)
    add("--search-requests", type=int, default=20_000)
    add("--search-deadline", type=float, default=900)
    add("--ingest-docs", type=int, default=5000)
    add("--ingest-batch", type=int, default=250)
    add("--ingest-deadline", type=float, default=3600)
    add("--ingest-max-searches", type=int, default=2_000_000)
    add("--ask-clients", type=int, default=4)
    add("--ask-questions", type=int, default=3, help="questions per ask client")
    add("--ask-warmup", type=int, default=1, help="unmeasured questions first, per server")
    add("--burst-clients", type=int, default=8)
    add("--ask-deadline", type=float, default=1800)
    add("--request-timeout", type=float, default=600, help="seconds per request")
    add("--start-timeout", type=float, default=300, help="seconds for /readyz")
    return parser


def main() -> int:
    args = parser().parse_args()
    load_before = os.getloadavg()
    rows = run(args)
    console.print(table(rows))
    settings: dict[str, object] = {k: (str(v) if isinstance(v, Path) else v)
                                   for k, v in vars(args).items()}
    settings["command"] = " ".join(["python benchmarks/serve.py", *sys.argv[1:]])
    settings["cpu"] = machine()["cpu"]
    settings["load_average"] = {"before": load_before, "after": os.getloadavg()}
    write(rows, settings)
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
