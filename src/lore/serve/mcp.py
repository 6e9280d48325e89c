"""lore for MCP clients (chat apps, IDEs, agents): ``search`` and ``ask`` as tools.

Two ways in:

* stdio, local and trusted: ``lore mcp --kb DIR`` serves one knowledge base
  (``local_server``).
* streamable HTTP at ``/mcp`` inside ``lore serve`` (``McpEndpoint``): every request carries
  ``Authorization: Bearer <key>`` and the tools reach only the collections that key reads; a
  collection the key cannot read looks exactly like one that does not exist.

>>> local_server(lore.open("my-kb")).run("stdio")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from typing import Annotated, Any, Protocol, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from lore.api import KnowledgeBase
from lore.config import MAX_QUERY_CHARS
from lore.errors import LoreError
from lore.records import ShowPath, hit_record
from lore.serve.answers import answer_once
from lore.serve.errors import ApiError, error_response
from lore.serve.gate import AnswerGate, Busy
from lore.serve.keys import ANY_COLLECTION, Key
from lore.serve.state import Server, authenticate, reader, server

T = TypeVar("T")
PATH = "/mcp"
MAX_HITS = 50

INSTRUCTIONS = """\
lore searches a knowledge base of documents and code. Use `search` to find passages and read \
them yourself (fast); use `ask` for an answer written by lore's local model with [n] \
citations to numbered sources (slow: seconds). Cite what you use by its path."""

SEARCH_HELP = """\
Search the knowledge base for passages relevant to `query` (keyword and semantic search, \
fused). Returns up to `k` hits, best first, each with its rank, the document's path and \
title, a relevance score (only comparable within one search) and the matching text. Any \
language works; a short description of what you are looking for works best."""

ASK_HELP = """\
Answer `question` from the knowledge base with lore's local language model. Returns the \
answer, whose sentences cite their sources as [n], and the numbered sources with their text; \
`found` is false when the knowledge base holds no answer. Takes seconds; prefer `search` to \
read passages yourself. When the model is busy the tool fails with 'busy' and says when to \
retry."""

Query = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS,
                             description="What to look for, in any language.")]
Question = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS,
                                description="The question to answer, in any language.")]
HitCount = Annotated[int, Field(ge=1, le=MAX_HITS, description="How many hits to return.")]
CollectionName = Annotated[str | None, Field(description="The collection to use; see the tool "
                                                         "description for when it is needed.")]


class SearchHit(BaseModel):
    """One passage found, best first by rank."""

    rank: int
    path: str
    title: str
    doc_key: str
    score: float
    text: str


class SearchResult(BaseModel):
    """The hits of one search."""

    query: str
    hits: list[SearchHit]


class Source(BaseModel):
    """A passage the answer cites as [number]."""

    number: int
    path: str
    title: str
    doc_key: str
    text: str


class AskResult(BaseModel):
    """An answer with [n] citations and the sources they point to."""

    question: str
    answer: str
    found: bool
    sources: list[Source]


@dataclass(frozen=True)
class Target:
    """What one tool call works on: a knowledge base, how its paths show, its answer line."""

    kb: KnowledgeBase
    show: ShowPath
    gate: AnswerGate


class Library(Protocol):
    """Where tool calls find their knowledge base."""

    collection_help: str
    """How the tools' ``collection`` argument works here, for the tool descriptions."""

    def target(self, request: Request | None, collection: str | None) -> Target:
        """The knowledge base for one call (blocking: it may open one), or ToolError."""
        ...


class LocalLibrary:
    """One knowledge base, served to a trusted local client.

    >>> server = build_server(LocalLibrary(lore.open("my-kb")))
    """

    collection_help = "This server holds one knowledge base: leave `collection` out."

    def __init__(self, kb: KnowledgeBase) -> None:
        self._target = Target(kb, str, AnswerGate(kb.config.serve.ask_queue))

    def target(self, request: Request | None, collection: str | None) -> Target:
        return self._target


class ServedLibrary:
    """The collections of a running ``lore serve``, as far as the request's key reads them.

    >>> server = build_server(ServedLibrary())   # behind McpEndpoint, which checks the key
    """

    collection_help = ("Name the collection in `collection`; it may be left out when your "
                       "API key covers exactly one collection.")

    def target(self, request: Request | None, collection: str | None) -> Target:
        if request is None:
            raise ToolError("this server answers over HTTP only")
        try:
            state = server(request)
            key = authenticate(request)
            name = collection if collection is not None else default_collection(state, key)
            return Target(reader(state, key, name), state.show_path(name), state.gate)
        except ApiError as error:
            raise ToolError(error.message) from None


def default_collection(state: Server, key: Key) -> str:
    """The one collection ``key`` covers, or a ToolError asking to name one."""
    if key.collection != ANY_COLLECTION:
        return key.collection
    names = [n for n in state.collections.names() if key.sees(n)]
    if len(names) == 1:
        return names[0]
    known = ", ".join(names) if names else "none yet"
    raise ToolError(f"name the collection: pass `collection` (this key reads: {known})")


def build_server(library: Library) -> MCPServer:
    """An MCP server with the ``search`` and ``ask`` tools over ``library``."""
    mcp: MCPServer = MCPServer("lore", instructions=INSTRUCTIONS, log_level="WARNING",
                               version=metadata.version("lore"))

    async def search(query: Query, k: HitCount = 5, collection: CollectionName = None, *,
                     ctx: Context) -> SearchResult:
        target = await _resolve(library, ctx, collection)
        hits = await _blocking(partial(_search, target, query, k))
        return SearchResult(query=query, hits=hits)

    async def ask(question: Question, collection: CollectionName = None, *,
                  ctx: Context) -> AskResult:
        target = await _resolve(library, ctx, collection)
        try:
            ticket = target.gate.enter()
        except Busy as busy:
            raise ToolError(f"busy: {busy}") from None
        try:
            record = await answer_once(target.kb, question, {}, ticket, target.show)
        except LoreError as error:
            raise ToolError(str(error)) from None
        return _ask_result(record)

    mcp.add_tool(search, title="Search the knowledge base",
                 description=f"{SEARCH_HELP} {library.collection_help}")
    mcp.add_tool(ask, title="Answer from the knowledge base, with citations",
                 description=f"{ASK_HELP} {library.collection_help}")
    return mcp


def local_server(kb: KnowledgeBase) -> MCPServer:
    """The stdio server of ``lore mcp``: one trusted knowledge base."""
    return build_server(LocalLibrary(kb))


class McpEndpoint:
    """The ASGI endpoint at ``/mcp`` of ``lore serve``: checks the key, then serves MCP.

    Stateless streamable HTTP: each request stands alone, authenticated by its own key, so
    nothing about a client outlives its request.

    >>> endpoint = McpEndpoint()
    >>> app.router.routes.append(endpoint.route())
    >>> async with endpoint.running():      # in the app's lifespan
    ...     yield
    """

    def __init__(self) -> None:
        self.server = build_server(ServedLibrary())
        self._manager: StreamableHTTPSessionManager | None = None

    def route(self) -> Route:
        return Route(PATH, self, include_in_schema=False)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the session manager (its task group) while the app runs; once per lifespan."""
        # Every request must carry a key, which a page rebinding DNS cannot know, so the Host
        # check would only refuse legitimate names the server is reached by.
        self.server.streamable_http_app(
            stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        manager = self.server.session_manager  # a new one each run: a manager runs once
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            authenticate(Request(scope, receive))
        except ApiError as error:
            await error_response(error.status, error.code, error.message,
                                 error.headers)(scope, receive, send)
            return
        if self._manager is None:
            await error_response(503, "not_ready", "the MCP endpoint is not running yet")(
                scope, receive, send)
            return
        await self._manager.handle_request(scope, receive, send)


async def _resolve(library: Library, ctx: Context, collection: str | None) -> Target:
    request = ctx.request_context.request
    http = request if isinstance(request, Request) else None
    return await _blocking(partial(library.target, http, collection))


async def _blocking(call: partial[T]) -> T:
    """Run a blocking lore call on a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(call)


def _search(target: Target, query: str, k: int) -> list[SearchHit]:
    try:
        hits = target.kb.search(query, k=k)
    except LoreError as error:
        raise ToolError(str(error)) from None
    return [_hit(rank, hit_record(hit, target.show)) for rank, hit in enumerate(hits, start=1)]


def _hit(rank: int, record: dict[str, Any]) -> SearchHit:
    return SearchHit(rank=rank, path=record["path"], title=record["title"],
                     doc_key=record["doc_key"], score=round(record["score"], 4),
                     text=record["chunk"]["text"])


def _ask_result(record: dict[str, Any]) -> AskResult:
    sources = [Source(number=s["number"], path=s["path"], title=s["title"],
                      doc_key=s["doc_key"], text=s["text"]) for s in record["sources"]]
    return AskResult(question=record["question"], answer=record["answer"],
                     found=record["found"], sources=sources)
