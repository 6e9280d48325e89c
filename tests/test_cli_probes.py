"""The command-line probes: lore tried as a careless user and an attacker would try it, through
the real command line over real knowledge bases. Each probe fails here with what it saw."""

from __future__ import annotations

from pathlib import Path

import pytest

from lore.testing.cli_probes import CLI_PROBES
from lore.testing.probes import run_probe

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(CLI_PROBES))
def test_cli_probe(name: str, tmp_path: Path) -> None:
    result = run_probe(name, tmp_path)
    assert result.passed, result
    assert not result.traceback and result.lost == 0
