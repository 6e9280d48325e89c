"""The REST API end to end: a real app, real SQLite files, the real English embedder."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lore.testing.server import add_documents, bearer, make_app, serving, wait_for_job

pytestmark = pytest.mark.slow


def test_health_and_schema_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/collections/{name}/search", "/v1/chat/completions"} <= set(paths)


def test_collections_are_created_listed_and_deleted(client: TestClient,
                                                    admin: dict[str, str]) -> None:
    assert client.post("/collections", json={"name": "docs"}, headers=admin).status_code == 201
    again = client.post("/collections", json={"name": "docs"}, headers=admin)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "exists")
    assert [c["name"] for c in client.get("/collections", headers=admin).json()["collections"]
            ] == ["docs"]
    assert client.delete("/collections/docs", headers=admin).json() == {"deleted": "docs"}
    assert client.get("/collections/docs", headers=admin).status_code == 404


@pytest.mark.parametrize("name", ["Docs", "../etc", "a/b", "", "-x", "x" * 64])
def test_bad_collection_names_are_refused(client: TestClient, admin: dict[str, str],
                                          name: str) -> None:
    response = client.post("/collections", json={"name": name}, headers=admin)
    assert response.status_code == 400
    assert "lowercase letters" in response.json()["error"]["message"]


def test_json_documents_are_indexed_then_searched(client: TestClient, admin: dict[str, str],
                                                  documents: list[dict[str, str]]) -> None:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    job = add_documents(client, "docs", documents, admin)
    assert (job["state"], job["files_done"], job["files_total"]) == ("done", 3, 3)
    hits = client.get("/collections/docs/search", params={"q": "how are expired entries "
                      "removed?", "k": 2}, headers=admin).json()["hits"]
    assert hits[0]["doc_key"] == "cache"
    assert hits[0]["path"].endswith("/cache.json")
    assert not hits[0]["path"].startswith("/")  # no server path leaves the server
    chinese = client.post("/collections/docs/search", json={"q": "红茶怎么泡", "k": 1},
                          headers=admin).json()["hits"]
    assert chinese[0]["doc_key"] == "tea"
    listed = client.get("/collections/docs/documents", headers=admin).json()
    assert listed["total"] == 3
    assert {d["state"] for d in listed["documents"]} == {"indexed"}
    assert all("path" not in d for d in listed["documents"])


def test_files_upload_with_harmless_names(client: TestClient, admin: dict[str, str],
                                          app: FastAPI) -> None:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    files = [("file", ("../../../etc/evil.md", b"# Evil\n\nTraversal attempt text.\n")),
             ("file", ("notes.md", b"# Notes\n\nThe sweeper runs every minute.\n"))]
    response = client.post("/collections/docs/documents", files=files, headers=admin)
    assert response.status_code == 202
    names = [d["name"] for d in response.json()["documents"]]
    assert names == ["evil.md", "notes.md"]
    wait_for_job(client, "docs", response.json()["job"]["id"], admin)
    files_dir = app.state.server.collections.place("docs").files_dir.resolve()
    stored = [p for p in files_dir.rglob("*.md")]
    assert len(stored) == 2 and all(files_dir in p.parents for p in stored)


def test_a_document_is_deleted_from_search(client: TestClient, admin: dict[str, str],
                                           documents: list[dict[str, str]]) -> None:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    add_documents(client, "docs", documents, admin)
    listed = client.get("/collections/docs/documents", headers=admin).json()["documents"]
    cache = next(d for d in listed if d["name"] == "cache.json")
    response = client.delete(f"/collections/docs/documents/{cache['id']}", headers=admin)
    assert response.status_code == 202
    wait_for_job(client, "docs", response.json()["job"]["id"], admin)
    hits = client.get("/collections/docs/search", params={"q": "expired cache entries"},
                      headers=admin).json()["hits"]
    assert "cache" not in {h["doc_key"] for h in hits}
    assert client.get(f"/collections/docs/documents/{cache['id']}",
                      headers=admin).status_code == 404


def test_a_bad_file_fails_alone(client: TestClient, admin: dict[str, str]) -> None:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    files = [("file", ("broken.pdf", b"%PDF-1.7 not really a pdf")),
             ("file", ("good.md", b"# Good\n\nThe sweeper runs every minute.\n"))]
    response = client.post("/collections/docs/documents", files=files, headers=admin)
    job = wait_for_job(client, "docs", response.json()["job"]["id"], admin)
    assert job["state"] == "done"
    states = {d["name"]: (d["state"], d["error"]) for d in
              client.get("/collections/docs/documents", headers=admin).json()["documents"]}
    assert states["good.md"] == ("indexed", "")
    assert states["broken.pdf"][0] == "failed" and states["broken.pdf"][1]


@pytest.mark.parametrize(("request_kwargs", "status", "code"), [
    ({"content": b"plain", "headers": {"Content-Type": "text/plain"}}, 415,
     "unsupported_media_type"),
    ({"json": {"documents": []}}, 422, "invalid_request"),
    ({"json": {"documents": [{"title": "no text"}]}}, 422, "invalid_request"),
])
def test_bad_uploads_get_clear_errors(client: TestClient, admin: dict[str, str],
                                      request_kwargs: dict[str, object], status: int,
                                      code: str) -> None:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    headers = {**admin, **request_kwargs.pop("headers", {})}  # type: ignore[dict-item]
    response = client.post("/collections/docs/documents", headers=headers,
                           **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_bodies_over_the_limit_are_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path / "server", LORE_MAX_BODY="2000", LORE_MAX_UPLOAD="1000")
    with TestClient(app) as client:
        admin = bearer(app.state.server.keys.create("*", "admin"))
        client.post("/collections", json={"name": "docs"}, headers=admin)
        big = {"documents": [{"text": "word " * 1000}]}
        response = client.post("/collections/docs/documents", json=big, headers=admin)
        assert (response.status_code, response.json()["error"]["code"]) == (413, "too_large")
        upload = [("file", ("big.md", b"x" * 1500))]
        response = client.post("/collections/docs/documents", files=upload, headers=admin)
        assert response.status_code == 413
        assert "big.md" in response.json()["error"]["message"]


def test_bad_searches_say_what_to_fix(client: TestClient, admin: dict[str, str]) -> None:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    response = client.get("/collections/docs/search", params={"q": "x", "k": 0}, headers=admin)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request")
    assert "k" in response.json()["error"]["message"]
    response = client.get("/collections/docs/search", params={"q": "x", "where": "nonsense"},
                          headers=admin)
    assert response.status_code == 400
    assert client.get("/collections/docs/search", params={"q": "anything"},
                      headers=admin).json()["hits"] == []


def test_scopes_are_enforced(client: TestClient, app: FastAPI, admin: dict[str, str],
                             documents: list[dict[str, str]]) -> None:
    keys = app.state.server.keys
    client.post("/collections", json={"name": "docs"}, headers=admin)
    reader = bearer(keys.create("docs", "read"))
    writer = bearer(keys.create("docs", "write"))
    upload = {"documents": documents[:1]}
    assert client.post("/collections/docs/documents", headers=reader, json=upload
                       ).status_code == 403
    assert client.post("/collections/docs/documents", headers=writer, json=upload
                       ).status_code == 202
    assert client.get("/collections/docs/search", params={"q": "cache"}, headers=reader
                      ).status_code == 200
    assert client.delete("/collections/docs", headers=reader).status_code == 403
    assert client.post("/collections", json={"name": "other"}, headers=writer
                       ).status_code == 403
    assert client.post("/collections", json={"name": "mine"},
                       headers=bearer(keys.create("mine", "write"))).status_code == 201


def test_a_deleted_collection_takes_its_keys_along(client: TestClient, app: FastAPI,
                                                    admin: dict[str, str]) -> None:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    reader = bearer(app.state.server.keys.create("docs", "read"))
    client.delete("/collections/docs", headers=admin)
    client.post("/collections", json={"name": "docs"}, headers=admin)
    assert client.get("/collections/docs", headers=reader).status_code == 401


def first_reply(url: str, head: bytes, body: bytes) -> bytes:
    """Send a request's headers and only the start of the body it promises; the server's
    reply, which must come without waiting for the rest."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + b"\r\n" + body)
        return connection.recv(65536)


def promised(path: str, length: int, key: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}"
            f"Content-Type: multipart/form-data; boundary=zz\r\n"
            f"Content-Length: {length}\r\n").encode()


def test_a_body_without_a_key_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A 200 MiB multipart body to a JSON route without a key was read before its 401."""
    app = make_app(tmp_path / "server")
    with serving(app) as url:
        reply = first_reply(url, promised("/collections/alpha/search", 200 << 20), b"x" * 65536)
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]


def test_a_json_route_keeps_its_own_limit_whatever_the_content_type(tmp_path: Path) -> None:
    app = make_app(tmp_path / "server")
    with serving(app) as url:
        key = app.state.server.keys.create("*", "admin")
        reply = first_reply(url, promised("/collections/alpha/search", 20 << 20, key),
                            b"x" * 65536)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"8,388,608 bytes" in reply


def test_metadata_cannot_replace_a_documents_id_title_or_text(client: TestClient,
                                                              admin: dict[str, str]) -> None:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    add_documents(client, "docs", [{"id": "real", "title": "Lighthouses",
                                    "text": "Lighthouses guide ships along the coast.",
                                    "metadata": {"_id": "fake", "title": "Fake",
                                                 "text": "injected", "team": "harbour"}}],
                  admin)
    hit, = client.get("/collections/docs/search", params={"q": "lighthouses", "k": 5},
                      headers=admin).json()["hits"]
    assert (hit["doc_key"], hit["title"]) == ("real", "Lighthouses")
    assert hit["chunk"]["text"] == "Lighthouses guide ships along the coast."


def test_no_page_loads_scripts_from_another_origin(client: TestClient) -> None:
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").status_code == 200
    page = client.get("/").text
    assert "cdn" not in page.lower() and "<script src=\"http" not in page


def test_a_json_document_uploaded_again_replaces_the_first(client: TestClient,
                                                           admin: dict[str, str]) -> None:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    for text in ("Lighthouses once burned whale oil.", "Lighthouses now run on LED lamps."):
        add_documents(client, "docs", [{"id": "lights", "text": text}], admin)
    listed = client.get("/collections/docs/documents", headers=admin).json()
    assert listed["total"] == 1
    hits = client.get("/collections/docs/search", params={"q": "lighthouses", "k": 5},
                      headers=admin).json()["hits"]
    assert [h["chunk"]["text"] for h in hits] == ["Lighthouses now run on LED lamps."]
