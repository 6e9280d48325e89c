"""The /v1 endpoints through the official OpenAI client, against a real uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from lore.testing.models import needs_smollm2
from lore.testing.server import add_documents, bearer, make_app, serving

pytestmark = [pytest.mark.slow, needs_smollm2]
QUESTION = "What does the client do on a 503 response?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A served collection ``docs``; yields (base URL, its read key, a foreign read key)."""
    app = make_app(Path(tmp_path_factory.mktemp("server")), LORE_GENERATOR="smollm2")
    keys = app.state.server.keys
    admin = keys.create("*", "admin")
    with serving(app) as url:
        import httpx

        with httpx.Client(base_url=url) as client:
            for name in ("docs", "other"):
                client.post("/collections", json={"name": name}, headers=bearer(admin))
            add_documents(client, "docs", [
                {"id": "retry", "title": "Retry policy",
                 "text": "On a 503 response the client retries with exponential backoff, at "
                         "most five times."},
                {"id": "cache", "title": "Cache expiry",
                 "text": "Expired cache entries are removed by a sweeper every minute."}],
                bearer(admin))
        yield url, keys.create("docs", "read"), keys.create("other", "read")


def client_for(server: tuple[str, str, str], key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server[0]}/v1", api_key=key, max_retries=0)


def test_models_are_the_collections_the_key_reads(server: tuple[str, str, str]) -> None:
    assert [m.id for m in client_for(server, server[1]).models.list()] == ["docs"]
    assert [m.id for m in client_for(server, server[2]).models.list()] == ["other"]


def test_chat_completion_answers_with_sources(server: tuple[str, str, str]) -> None:
    reply = client_for(server, server[1]).chat.completions.create(
        model="docs", messages=[{"role": "system", "content": "ignored"},
                                {"role": "user", "content": QUESTION}])
    message = reply.choices[0].message.content
    assert message and reply.choices[0].finish_reason == "stop"
    extra = reply.model_extra["lore"]  # type: ignore[index]
    assert extra["found"] is True
    assert extra["sources"][0]["title"] == "Retry policy"
    if extra["citations"]:  # the small model may not cite; when it does, they are listed
        assert "Sources:\n[" in message


def test_chat_completion_streams(server: tuple[str, str, str]) -> None:
    stream = client_for(server, server[1]).chat.completions.create(
        model="docs", messages=[{"role": "user", "content": QUESTION}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["lore"]["sources"]  # type: ignore[index]


def test_embeddings_come_from_the_collections_model(server: tuple[str, str, str]) -> None:
    result = client_for(server, server[1]).embeddings.create(
        model="docs", input=["retry on 503", "cache sweeper"])
    vectors = np.array([d.embedding for d in result.data])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_a_foreign_collection_is_not_found(server: tuple[str, str, str]) -> None:
    with pytest.raises(openai.NotFoundError, match="not found"):
        client_for(server, server[2]).chat.completions.create(
            model="docs", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.AuthenticationError):
        client_for(server, "lore_0_bad").models.list()


def test_an_over_long_streamed_question_is_a_400_before_the_stream(
        server: tuple[str, str, str]) -> None:
    """It was 200, one chunk, then a cut connection."""
    with pytest.raises(openai.BadRequestError, match="characters"):
        client_for(server, server[1]).chat.completions.create(
            model="docs", messages=[{"role": "user", "content": "why? " * 5000}], stream=True)


def test_a_failure_after_the_stream_started_is_an_error_in_the_stream(tmp_path: Path) -> None:
    app = make_app(tmp_path / "server", LORE_GENERATOR="openai:http://127.0.0.1:9/v1/none")
    admin = app.state.server.keys.create("*", "admin")
    with serving(app) as url:
        import httpx

        with httpx.Client(base_url=url) as client:
            client.post("/collections", json={"name": "docs"}, headers=bearer(admin))
            add_documents(client, "docs", [{"id": "retry", "text": "On a 503 response the "
                                            "client retries with backoff."}], bearer(admin))
        stream = openai.OpenAI(base_url=f"{url}/v1", api_key=admin, max_retries=0
                               ).chat.completions.create(
            model="docs", messages=[{"role": "user", "content": QUESTION}], stream=True)
        with pytest.raises(openai.APIError, match="127.0.0.1:9"):
            list(stream)
