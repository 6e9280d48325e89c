"""A probe that tries every route of a lore server with keys that must not get in.

Tenants share one server; a key for one collection must never read, search, list or infer
another. The probe walks the OpenAPI schema, so a route added later is probed too, and sends
each request with no key, a malformed header, an unknown key, a revoked key and a key for
another collection. A leak is any answer other than the expected refusal, or any response that
mentions the victim collection's name or a marker text stored only in it.

>>> report = probe(client, client.get("/openapi.json").json(), victim="secret",
...                marker="zebra-quartz-17", keys={"foreign": token_b, "revoked": token_c})
>>> report.leaks
[]
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lore.testing.server import Client

REFUSED = {"none": {401}, "malformed": {401}, "unknown": {401}, "revoked": {401},
           "foreign": {404}}
"""Expected statuses: no valid key is 401 everywhere; a valid key for another collection gets
the same 404 as a collection that does not exist (403 would confirm it exists)."""
LISTINGS = {"/collections", "/v1/models", "/status"}
"""Routes without a collection in the path that list what a key sees: a foreign key gets 200,
and the body must not mention the victim."""
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class ProbeReport:
    requests: int = 0
    leaks: list[str] = field(default_factory=list)


def probe(client: Client, schema: Mapping[str, Any], victim: str, marker: str,
          keys: Mapping[str, str]) -> ProbeReport:
    """Probe every operation in ``schema`` against collection ``victim``.

    Args:
        client: an httpx-style client bound to the server.
        schema: the server's OpenAPI schema.
        victim: a collection holding ``marker`` in one of its documents.
        keys: tokens by kind: ``foreign`` (a live key for another collection) and
            ``revoked`` (a revoked key for ``victim``); ``none``, ``malformed`` and
            ``unknown`` are made here.
    """
    report = ProbeReport()
    headers = _headers(keys)
    for method, path in operations(schema):
        for kind, header in headers.items():
            url = _fill(path, victim)
            response = client.request(method, url, headers=header, **_body(method, path, victim))
            report.requests += 1
            problem = _judge(kind, method, path, response, victim, marker)
            if problem:
                report.leaks.append(f"{method} {url} with {kind} key: {problem}")
    return report


def operations(schema: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for path, item in schema.get("paths", {}).items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path


def _headers(keys: Mapping[str, str]) -> dict[str, dict[str, str]]:
    headers = {"none": {}, "malformed": {"Authorization": "Token abc"},
               "unknown": {"Authorization": "Bearer lore_0000000000000000_notakey"}}
    for kind in ("revoked", "foreign"):
        if kind in keys:
            headers[kind] = {"Authorization": f"Bearer {keys[kind]}"}
    return headers


def _fill(path: str, victim: str) -> str:
    def value(match: re.Match[str]) -> str:
        return victim if match.group(1) == "name" else f"x{match.group(1)}"
    return _PARAM.sub(value, path)


def _body(method: str, path: str, victim: str) -> dict[str, Any]:
    """A well-formed body, so that refusals come from the key, not from validation."""
    if method != "POST":
        required = {"/search": {"q": "anything"}, "/concept": {"concept": "anything"}}
        return next(({"params": params} for end, params in required.items()
                     if path.endswith(end)), {})
    if path.endswith("/documents"):
        return {"json": {"documents": [{"text": "probe"}]}}
    if path.startswith("/v1/chat"):
        return {"json": {"model": victim, "messages": [{"role": "user", "content": "hi"}]}}
    if path.startswith("/v1/embeddings"):
        return {"json": {"model": victim, "input": "hi"}}
    return {"json": {"name": victim, "q": "anything", "question": "anything"}}


def _judge(kind: str, method: str, path: str, response: Any, victim: str, marker: str) -> str:
    text = response.text
    if marker in text:
        return "the response holds the victim's text"
    if (method, path) == ("POST", "/collections") and kind == "foreign":
        # Creating a collection the key does not cover: refused alike whether or not it
        # exists, so it reveals nothing.
        return "" if response.status_code == 403 else f"status {response.status_code}"
    if path in LISTINGS and kind == "foreign":
        if response.status_code != 200:
            return f"status {response.status_code}, expected 200 with an empty listing"
        return "the listing names the victim" if victim in _names(response) else ""
    if response.status_code not in REFUSED[kind] and not _public(path):
        return f"status {response.status_code}, expected {sorted(REFUSED[kind])}"
    return ""


def _names(response: Any) -> set[str]:
    body = response.json()
    items = body.get("collections") or body.get("data") or []
    return {str(item.get("name") or item.get("id")) for item in items}


def _public(path: str) -> bool:
    return path in ("/healthz", "/readyz")
