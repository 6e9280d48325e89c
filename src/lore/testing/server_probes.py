"""Probes of a live ``lore serve``: raw HTTP requests a careless client or an attacker sends.

Each probe gets the server's URL and an admin key and returns a
:class:`~lore.testing.probe_harness.Verdict`: the refusal lore promises (401 before a body
without a key is read, 413 past a route's body limit, a 4xx with an error for a malformed
body), and uploaded file names that cannot climb out of their collection.
:data:`SERVER_PROBES` names them all; :func:`prepare_server` makes the collection they use.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx

from lore.testing.probe_harness import MARKER, Verdict


def _raw(url: str, head: str, body: bytes) -> bytes:
    """Headers and the start of a body the request promises more of; the server's reply."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head.encode() + b"\r\n" + body)
        return connection.recv(65536)


def _promised(path: str, length: int, key: str | None) -> str:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: multipart/"
            f"form-data; boundary=zz\r\nContent-Length: {length}\r\n")


def body_without_key(url: str, key: str) -> Verdict:
    reply = _raw(url, _promised("/collections/probe/search", 200 << 20, None), b"x" * 65536)
    return Verdict(reply.startswith(b"HTTP/1.1 401"), reply.split(b"\r\n", 1)[0].decode())


def body_over_its_routes_limit(url: str, key: str) -> Verdict:
    reply = _raw(url, _promised("/collections/probe/search", 20 << 20, key), b"x" * 65536)
    return Verdict(reply.startswith(b"HTTP/1.1 413"), reply.split(b"\r\n", 1)[0].decode())


def malformed_bodies(url: str, key: str) -> Verdict:
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=auth, timeout=60) as client:
        replies = [client.post("/collections/probe/search", content=b"{not json",
                               headers={"Content-Type": "application/json"}),
                   client.post("/collections/probe/search", json={"q": "x", "k": -1}),
                   client.post("/collections/probe/documents", json={"documents": "no"}),
                   client.post("/v1/chat/completions", json={"model": "probe", "stream": True,
                               "messages": [{"role": "user", "content": "why? " * 5000}]})]
    shapes = [(r.status_code, "error" in r.json()) for r in replies]
    ok = all(400 <= status < 500 and has_error for status, has_error in shapes)
    return Verdict(ok, f"statuses {[status for status, _ in shapes]}")


def hostile_upload_names(url: str, key: str) -> Verdict:
    auth = {"Authorization": f"Bearer {key}"}
    names = ["../../../etc/evil.md", "..\\..\\win.md", "/abs/path.md", "\x1b[2Jx.md"]
    with httpx.Client(base_url=url, headers=auth, timeout=60) as client:
        reply = client.post("/collections/probe/documents", files=[
            ("file", (name, f"# {MARKER}\n\nupload {i}\n".encode())) for i, name in
            enumerate(names)])
    stored = [d["name"] for d in reply.json().get("documents", [])]
    escaped = [n for n in stored if "/" in n or "\\" in n or ".." in n or "\x1b" in n]
    return Verdict(reply.status_code == 202 and len(stored) == 4 and not escaped,
                   f"stored as {stored}")


ServerProbe = Callable[[str, str], Verdict]

SERVER_PROBES: dict[str, ServerProbe] = {
    "a body without a key": body_without_key,
    "a body over its route's limit": body_over_its_routes_limit,
    "malformed and oversized bodies": malformed_bodies,
    "hostile upload names": hostile_upload_names,
}
"""Probes of a live server, by name; each gets its URL and an admin key, and expects a
collection named ``probe`` (``prepare_server`` makes it)."""


def prepare_server(url: str, key: str) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        client.post("/collections", json={"name": "probe"})
