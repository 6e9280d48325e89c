"""Tenants stay apart: every route, tried with keys that must not get in, leaks nothing."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lore.testing.isolation import probe
from lore.testing.server import add_documents, bearer

pytestmark = pytest.mark.slow
MARKER = "zebra-quartz-17"


@pytest.fixture
def tenants(client: TestClient, app: FastAPI, admin: dict[str, str]) -> dict[str, str]:
    """Collection ``secret`` holding the marker, and keys that must not reach it."""
    keys = app.state.server.keys
    for name in ("secret", "other"):
        client.post("/collections", json={"name": name}, headers=admin)
    add_documents(client, "secret", [{"id": "s", "title": "Vault",
                                      "text": f"The vault code is {MARKER}."}], admin)
    revoked = keys.create("secret", "write")
    keys.revoke(revoked.split("_")[1])
    return {"revoked": revoked, "foreign_read": keys.create("other", "read"),
            "foreign_write": keys.create("other", "write")}


@pytest.mark.parametrize("foreign", ["foreign_read", "foreign_write"])
def test_no_route_lets_a_foreign_or_bad_key_in(client: TestClient, tenants: dict[str, str],
                                               foreign: str) -> None:
    schema = client.get("/openapi.json").json()
    report = probe(client, schema, victim="secret", marker=MARKER,
                   keys={"revoked": tenants["revoked"], "foreign": tenants[foreign]})
    assert report.leaks == []
    assert report.requests >= 5 * 15  # five kinds of key on every route


def test_the_probe_catches_a_leak(client: TestClient, tenants: dict[str, str],
                                  admin: dict[str, str]) -> None:
    """An admin key passed off as foreign must be reported: the probe can fail."""
    schema = client.get("/openapi.json").json()
    token = admin["Authorization"].removeprefix("Bearer ")
    report = probe(client, schema, victim="secret", marker=MARKER, keys={"foreign": token})
    assert any(leak.startswith("GET /collections/secret with foreign key") for leak in
               report.leaks), report.leaks


def test_the_owner_does_see_it(client: TestClient, app: FastAPI, tenants: dict[str, str]
                               ) -> None:
    owner = bearer(app.state.server.keys.create("secret", "read"))
    hits = client.get("/collections/secret/search", params={"q": "vault code"},
                      headers=owner).json()["hits"]
    assert MARKER in hits[0]["chunk"]["text"]
    listed = client.get("/v1/models", headers=owner).json()["data"]
    assert [m["id"] for m in listed] == ["secret"]
