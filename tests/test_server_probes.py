"""The server probes: raw and malformed HTTP sent to a real ``lore serve`` app on a loopback
port. Each probe fails here with what it saw."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lore.testing.probes import run_server_probe
from lore.testing.server import make_app, serving
from lore.testing.server_probes import SERVER_PROBES, prepare_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    app = make_app(tmp_path_factory.mktemp("server"))
    key = app.state.server.keys.create("*", "admin")
    with serving(app) as url:
        prepare_server(url, key)
        yield url, key


@pytest.mark.parametrize("name", list(SERVER_PROBES))
def test_server_probe(name: str, live: tuple[str, str]) -> None:
    result = run_server_probe(name, *live)
    assert result.passed, result
