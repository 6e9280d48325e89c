"""Running the probe suite: a probe that breaks, or lets a traceback through, is reported as a
failure with what it saw, and the table stays one row per probe. The probes themselves are
run in test_cli_probes.py and test_server_probes.py."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from lore.testing.cli_probes import CLI_PROBES
from lore.testing.probe_harness import Cli, Verdict
from lore.testing.probes import ProbeResult, run_probe, run_server_probe, table
from lore.testing.server_probes import SERVER_PROBES


def test_a_probe_that_breaks_fails_with_its_error_and_no_scratch_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def breaks(cli: Cli, scratch: Path) -> Verdict:
        raise OSError(f"cannot read {scratch / 'kb'}")

    monkeypatch.setitem(CLI_PROBES, "breaks", ("files", breaks))
    result = run_probe("breaks", tmp_path)

    assert not result.passed and result.area == "files"
    assert "the probe itself failed" in result.detail and "<scratch>/kb" in result.detail
    assert str(tmp_path) not in result.detail


def test_a_traceback_fails_a_probe_whose_verdict_passed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def leaks(cli: Cli, scratch: Path) -> Verdict:
        cli.traceback = True
        return Verdict(True, "looked fine", lost=1)

    monkeypatch.setitem(CLI_PROBES, "leaks", ("stores", leaks))
    result = run_probe("leaks", tmp_path)

    assert (result.passed, result.traceback, result.lost) == (False, True, 1)


def test_a_server_probe_that_cannot_connect_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(url: str, key: str) -> Verdict:
        raise httpx.ConnectError("connection refused")

    monkeypatch.setitem(SERVER_PROBES, "refused", refused)
    result = run_server_probe("refused", "http://127.0.0.1:9", "key")

    assert not result.passed and result.area == "http"
    assert "connection refused" in result.detail


def test_table_has_one_row_per_probe_and_no_stray_columns() -> None:
    rows = table([ProbeResult("a", "files", True, "fine"),
                  ProbeResult("b", "http", False, "x | y", traceback=True, lost=2)])

    assert len(rows) == 4
    assert rows[2] == "| a | files | pass | no | 0 | fine |"
    assert rows[3] == "| b | http | FAIL | yes | 2 | x / y |"
