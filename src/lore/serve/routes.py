"""The REST API: collections, documents, ingestion jobs, search, ask, status.

Every route names its collection in the path and checks the caller's key against it first
(``state.access``); the work itself is ``lore.api``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from lore.config import MAX_K, MAX_QUERY_CHARS, StrategyName
from lore.records import hit_record
from lore.serve.answers import answer_events, answer_once
from lore.serve.collections import NAME_RULE
from lore.serve.errors import ApiError, not_found
from lore.serve.jobs import DocumentRecord, record_dict
from lore.serve.keys import Key
from lore.serve.state import KeyDep, Server, ServerDep, access, reader
from lore.types import SearchMode

router = APIRouter()

MAX_FILES = 1_000
"""Files (or JSON documents) in one upload request."""


class CollectionIn(BaseModel):
    name: str = Field(description=NAME_RULE)
    model: str | None = Field(None, description="Embedder: auto (default), minilm, e5-small")


class DocumentIn(BaseModel):
    id: str | None = Field(None, max_length=200)
    title: str = Field("", max_length=1_000)
    text: str = Field(min_length=1)
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)


class DocumentsIn(BaseModel):
    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_FILES)


class SearchIn(BaseModel):
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int = Field(10, ge=1, le=MAX_K)
    mode: SearchMode = "hybrid"
    where: list[str] = Field(default_factory=list)


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int | None = Field(None, ge=1, le=50)
    mode: Literal["stuff", "rag-sequence", "rag-token"] | None = None
    where: list[str] = Field(default_factory=list)
    strategy: StrategyName | None = None
    """How to plan the question (``lore.query``); steps stream as ``step`` events."""
    budget: int | None = Field(None, ge=0, le=10_000)
    """Relevance tests ``global`` and ``local`` may spend (``query.relevance_budget``)."""
    stream: bool = True


class GraphIn(BaseModel):
    chunks: list[str] = Field(default_factory=list, max_length=100)
    """``Chunk.id`` values, as an answer's sources give them (``chunk``)."""
    limit: int = Field(30, ge=1, le=200)


# -- health -------------------------------------------------------------------------------


@router.get("/healthz", tags=["health"])
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"])
def ready(state: Server = ServerDep) -> dict[str, object]:
    """The server can take requests: its data directory is there and ingestion runs."""
    if not state.jobs.running:
        raise ApiError(503, "not_ready", "the ingestion worker is not running yet")
    return {"status": "ready"}


# -- collections ----------------------------------------------------------------------------


@router.get("/collections", tags=["collections"])
def list_collections(state: Server = ServerDep, key: Key = KeyDep) -> dict[str, object]:
    names = [n for n in state.collections.names() if key.sees(n)]
    return {"collections": [_collection(state, n) for n in names]}


@router.post("/collections", status_code=201, tags=["collections"])
def create_collection(body: CollectionIn, state: Server = ServerDep, key: Key = KeyDep
                      ) -> dict[str, object]:
    if not key.allows(body.name, "write"):
        raise ApiError(403, "forbidden", "creating a collection needs an admin key or a write "
                       f"key for {body.name!r}")
    if not state.collections.create(body.name, body.model):
        raise ApiError(409, "exists", f"collection {body.name!r} already exists")
    return _collection(state, body.name)


@router.get("/collections/{name}", tags=["collections"])
def get_collection(name: str, state: Server = ServerDep, key: Key = KeyDep) -> dict[str, object]:
    return _collection(state, access(state, key, name, "read"))


@router.delete("/collections/{name}", tags=["collections"])
def delete_collection(name: str, state: Server = ServerDep, key: Key = KeyDep) -> dict[str, object]:
    access(state, key, name, "write")
    state.jobs.cancel_collection(name)
    state.collections.delete(name)
    state.keys.revoke_collection(name)
    return {"deleted": name}


# -- documents ------------------------------------------------------------------------------


@router.post("/collections/{name}/documents", status_code=202, tags=["documents"])
async def upload(name: str, request: Request, state: Server = ServerDep, key: Key = KeyDep
                 ) -> dict[str, object]:
    """Files as ``multipart/form-data`` (any field name), or JSON ``{"documents": [...]}``.
    Indexing runs in the background: follow the returned job."""
    access(state, key, name, "write")
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        staged = await _stage_files(state, name, request)
    elif kind.startswith("application/json"):
        staged = await _stage_json(state, name, request)
    else:
        raise ApiError(415, "unsupported_media_type", "send files as multipart/form-data or "
                       "documents as application/json")
    if not staged:
        raise ApiError(400, "no_documents", "the request holds no files or documents")
    job = state.jobs.submit_index(name, staged)
    return {"job": record_dict(job), "documents": [record_dict(d) for d in staged]}


@router.get("/collections/{name}/documents", tags=["documents"])
def list_documents(name: str, offset: Annotated[int, Query(ge=0)] = 0,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   state: Server = ServerDep, key: Key = KeyDep) -> dict[str, object]:
    documents, total = state.jobs.documents(access(state, key, name, "read"), offset, limit)
    return {"documents": [record_dict(d) for d in documents], "total": total}


@router.get("/collections/{name}/documents/{doc_id}", tags=["documents"])
def get_document(name: str, doc_id: str, state: Server = ServerDep, key: Key = KeyDep
                 ) -> dict[str, object]:
    return record_dict(_document(state, access(state, key, name, "read"), doc_id))


@router.delete("/collections/{name}/documents/{doc_id}", status_code=202, tags=["documents"])
def delete_document(name: str, doc_id: str, state: Server = ServerDep, key: Key = KeyDep
                    ) -> dict[str, object]:
    document = _document(state, access(state, key, name, "write"), doc_id)
    return {"job": record_dict(state.jobs.submit_remove(name, [document.id]))}


@router.get("/collections/{name}/jobs", tags=["documents"])
def list_jobs(name: str, state: Server = ServerDep, key: Key = KeyDep) -> dict[str, object]:
    return {"jobs": [record_dict(j) for j in state.jobs.jobs(access(state, key, name, "read"))]}


@router.get("/collections/{name}/jobs/{job_id}", tags=["documents"])
def get_job(name: str, job_id: str, state: Server = ServerDep, key: Key = KeyDep
            ) -> dict[str, object]:
    job = state.jobs.get(access(state, key, name, "read"), job_id)
    if job is None:
        raise not_found(f"job {job_id!r}")
    return record_dict(job)


# -- search and ask ---------------------------------------------------------------------------


@router.get("/collections/{name}/search", tags=["search"])
def search_get(name: str, q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS)],
               k: Annotated[int, Query(ge=1, le=MAX_K)] = 10, mode: SearchMode = "hybrid",
               where: Annotated[list[str] | None, Query()] = None,
               state: Server = ServerDep, key: Key = KeyDep) -> dict[str, object]:
    return _search(state, key, name, SearchIn(q=q, k=k, mode=mode, where=where or []))


@router.post("/collections/{name}/search", tags=["search"])
def search_post(name: str, body: SearchIn, state: Server = ServerDep, key: Key = KeyDep
                ) -> dict[str, object]:
    return _search(state, key, name, body)


@router.post("/collections/{name}/graph", tags=["graph"])
def graph_around(name: str, body: GraphIn, state: Server = ServerDep, key: Key = KeyDep
                 ) -> dict[str, object]:
    """The concepts of these chunks and their strongest neighbours in the concept graph, the
    links between them, and each shown community's central concepts."""
    found = reader(state, key, name).graph_around(body.chunks, body.limit)
    return {"nodes": [{"name": n.name, "community": n.community, "mentions": n.mentions,
                       "named": n.named} for n in found.nodes],
            "edges": [{"source": a, "target": b, "weight": w} for a, b, w in found.edges],
            "communities": [{"id": c, "central": list(central)}
                            for c, central in found.communities.items()]}


@router.get("/collections/{name}/concept", tags=["graph"])
def concept_chunks(name: str, concept: Annotated[str, Query(min_length=1, max_length=200)],
                   limit: Annotated[int, Query(ge=1, le=50)] = 10, state: Server = ServerDep,
                   key: Key = KeyDep) -> dict[str, object]:
    """Chunks that mention a concept."""
    hits = reader(state, key, name).concept_chunks(concept, limit)
    show = state.show_path(name)
    return {"concept": concept,
            "chunks": [{"chunk": h.chunk.id, "title": h.title, "path": show(h.path),
                        "doc_key": h.doc_key, "text": h.chunk.text} for h in hits]}


@router.post("/collections/{name}/ask", tags=["search"], response_model=None)
async def ask(name: str, body: AskIn, state: Server = ServerDep, key: Key = KeyDep
              ) -> StreamingResponse | dict[str, Any]:
    """Server-sent events by default (``token`` events, then one ``answer``); ``"stream":
    false`` returns the answer as one JSON object."""
    kb = reader(state, key, name)
    options: dict[str, Any] = {"k": body.k, "mode": body.mode, "where": body.where,
                               "strategy": body.strategy, "show_path": state.show_path(name)}
    if body.budget is not None:
        options["planning"] = replace(kb.config.query, relevance_budget=body.budget)
    ticket = state.gate.enter()
    if not body.stream:
        return await answer_once(kb, body.question, options, ticket, state.show_path(name))
    return StreamingResponse(answer_events(kb, body.question, options, ticket,
                                           state.show_path(name)),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/status", tags=["health"])
def status(state: Server = ServerDep, key: Key = KeyDep) -> dict[str, object]:
    """The collections this key sees, the ingestion queue and the answer line."""
    names = [n for n in state.collections.names() if key.sees(n)]
    return {"collections": [_collection(state, n) for n in names],
            "key": {"id": key.id, "collection": key.collection, "scope": key.scope},
            "answers": {"admitted": state.gate.admitted, "queue": state.gate.waiting}}


# -- helpers ------------------------------------------------------------------------------------


def _search(state: Server, key: Key, name: str, body: SearchIn) -> dict[str, object]:
    kb = reader(state, key, name)
    hits = kb.search(body.q, k=body.k, mode=body.mode, where=body.where)
    show = state.show_path(name)
    return {"query": body.q, "mode": body.mode, "hits": [hit_record(h, show) for h in hits]}


def _collection(state: Server, name: str) -> dict[str, object]:
    kb = state.collections.reader(name)
    current = kb.status()
    return {"name": name, "documents": current.documents, "chunks": current.chunks,
            "embedder": current.embedder, "last_update": current.last_update,
            "ingesting": state.jobs.busy(name)}


def _document(state: Server, name: str, doc_id: str) -> DocumentRecord:
    document = state.jobs.document(name, doc_id)
    if document is None:
        raise not_found(f"document {doc_id!r}")
    return document


async def _stage_files(state: Server, name: str, request: Request) -> list[DocumentRecord]:
    limit = state.config.serve.max_upload_bytes
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
    staged = []
    for field, value in form.multi_items():
        if not isinstance(value, UploadFile):
            continue
        data = await value.read(limit + 1)
        if len(data) > limit:
            raise ApiError(413, "too_large", f"file {value.filename!r} is over the "
                           f"{limit:,}-byte upload limit (LORE_MAX_UPLOAD)")
        staged.append(await run_in_threadpool(state.jobs.stage_file, name,
                                              value.filename or field, data))
    return staged


async def _stage_json(state: Server, name: str, request: Request) -> list[DocumentRecord]:
    try:
        body = DocumentsIn.model_validate_json(await request.body())
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"the documents are not valid: {exc}") from None
    staged = []
    for number, document in enumerate(body.documents):
        key = document.id or f"document-{number}"
        # Metadata goes in its own object (BEIR's layout), so a field named _id, title or
        # text in it can never replace the document's own.
        record = {"_id": key, "title": document.title, "text": document.text,
                  "metadata": document.metadata}
        data = json.dumps(record, ensure_ascii=False).encode()
        staged.append(await run_in_threadpool(state.jobs.stage_file, name, f"{key}.json", data,
                                              document.id))
    return staged

