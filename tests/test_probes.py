"""The probe suite: lore tried as a careless user and an attacker would try it, through the
real command line and a real server. Each probe fails here with what it saw."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lore.testing.probes import (
    CLI_PROBES,
    SERVER_PROBES,
    prepare_server,
    run_probe,
    run_server_probe,
)
from lore.testing.server import make_app, serving

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(CLI_PROBES))
def test_cli_probe(name: str, tmp_path: Path) -> None:
    result = run_probe(name, tmp_path)
    assert result.passed, result
    assert not result.traceback and result.lost == 0


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
