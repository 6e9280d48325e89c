"""Errors as JSON with a stable code: ``{"error": {"code": ..., "message": ...}}``.

The code is for programs (it never changes meaning); the message is for people and says what
to fix.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from lore.errors import ConfigError, GenerationError, LoreError, ModelError, QueryError, StoreError
from lore.serve.gate import Busy


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found; check the name, and that your key "
                    "covers it")


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return error_response(503, "busy", str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(LoreError)
    async def lore_error(request: Request, exc: LoreError) -> JSONResponse:
        status, code = _status_of(exc)
        return error_response(status, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        return error_response(422, "invalid_request", f"the request is not valid: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))


def _status_of(exc: LoreError) -> tuple[int, str]:
    if isinstance(exc, QueryError):
        return 400, "bad_query"
    if isinstance(exc, ConfigError):
        return 400, "bad_request"
    if isinstance(exc, GenerationError):
        return 502, "generation_failed"
    if isinstance(exc, StoreError):
        return 409, "store_conflict"
    if isinstance(exc, ModelError):
        return 500, "model_error"
    return 500, "internal"
