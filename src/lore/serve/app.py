"""The HTTP server: a thin FastAPI layer over ``lore.api``.

>>> from lore.serve.app import create_app
>>> app = create_app(LoreConfig.from_env(os.environ))   # run with uvicorn, or `lore serve`

Routes: ``lore.serve.routes`` (collections, documents, jobs, search, ask, status),
``lore.serve.openai_api`` (``/v1``: chat completions, models, embeddings), ``lore.serve.mcp``
(``/mcp``: search and ask as MCP tools) and the web page at ``/``. The OpenAPI schema is at
``/openapi.json``, its browsable form at ``/docs``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lore.config import LoreConfig
from lore.serve import openai_api, routes
from lore.serve.errors import ApiError, error_response, install_handlers
from lore.serve.mcp import McpEndpoint
from lore.serve.state import Server, key_for


def create_app(config: LoreConfig) -> FastAPI:
    """The app, with its server state opened now and the ingestion worker run by lifespan."""
    state = Server.open(config)
    _limit_model_threads(config.serve.model_threads)
    mcp = McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.jobs.start()  # resumes jobs an earlier run left unfinished
        try:
            async with mcp.running():
                yield
        finally:
            state.close()  # ingestion stops at a safe point; it resumes on the next start

    # No /docs or /redoc: FastAPI draws them with scripts from a public CDN, on the origin
    # where the page keeps its key. The schema itself stays at /openapi.json.
    app = FastAPI(title="lore", summary="Search and answer from your documents, with citations",
                  version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = state
    install_handlers(app)
    app.include_router(routes.router)
    app.include_router(openai_api.router)
    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.router.routes.append(mcp.route())  # MCP over streamable HTTP at /mcp
    app.add_middleware(BodyGuard, json_limit=config.serve.max_body_bytes,
                       upload_limit=config.serve.max_upload_bytes)
    return app


def _limit_model_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def page() -> HTMLResponse:
    """The web page: ask, watch the answer stream, open sources, upload files."""
    html = resources.files("lore.serve").joinpath("static/index.html").read_text("utf-8")
    return HTMLResponse(html)


class BodyGuard:
    """Judges a request before its body is read. A body needs a valid key (401 otherwise,
    the body unread), and stays within its own route's limit (413): the upload limit for
    files sent to a collection's documents, the JSON limit for every other body, whatever
    content type it claims. Checked by the declared length when there is one, else counted as
    the body arrives. So a body without a key, or aimed at the wrong route, costs the server
    its headers only."""

    def __init__(self, app: ASGIApp, json_limit: int, upload_limit: int) -> None:
        self.app, self.json_limit, self.upload_limit = app, json_limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"]) if scope["type"] == "http" else {}
        if scope["type"] != "http" or not _has_body(scope, headers):
            await self.app(scope, receive, send)
            return
        try:
            key_for(scope["app"].state.server,
                    headers.get(b"authorization", b"").decode("latin-1"))
        except ApiError as error:
            response = error_response(error.status, error.code, error.message, error.headers)
            await response(scope, receive, send)
            return
        limit = self._limit(scope, headers)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit, scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(limit, scope, receive, send)

    def _limit(self, scope: Scope, headers: dict[bytes, bytes]) -> int:
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        if multipart and _UPLOAD_ROUTE.fullmatch(scope["path"]):
            return self.upload_limit * 4  # several files, each within the per-file limit
        return self.json_limit


_UPLOAD_ROUTE = re.compile(r"/collections/[^/]+/documents/?")


def _has_body(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    declared = headers.get(b"content-length")
    return (declared is not None and declared != b"0") or b"transfer-encoding" in headers


class _TooLarge(Exception):
    pass


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(413, "too_large", f"the request body is over {limit:,} bytes; "
                              "send less at once (limits: LORE_MAX_BODY, LORE_MAX_UPLOAD)")
    await response(scope, receive, send)
