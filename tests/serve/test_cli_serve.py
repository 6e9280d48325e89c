"""`lore keys` and `lore serve` from the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from lore.cli import main
from lore.serve.control import SqliteControl
from lore.serve.keys import KeyStore


def test_keys_are_created_listed_and_revoked(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data", str(tmp_path)]
    created = runner.invoke(main, ["keys", "create", "--collection", "docs", "--scope", "write",
                                   "--json", *data])
    assert created.exit_code == 0, created.output
    token = json.loads(created.output)["key"]
    key = KeyStore(SqliteControl(tmp_path / "keys.db")).verify(token)
    assert key is not None and (key.collection, key.scope) == ("docs", "write")
    listed = runner.invoke(main, ["keys", "list", "--json", *data])
    assert token not in listed.output  # only ids and hashes are kept
    assert json.loads(listed.output)[0]["id"] == key.id
    assert runner.invoke(main, ["keys", "revoke", key.id, *data]).exit_code == 0
    assert KeyStore(SqliteControl(tmp_path / "keys.db")).verify(token) is None
    again = runner.invoke(main, ["keys", "revoke", key.id, *data])
    assert again.exit_code == 2 and "no live key" in again.output


def test_an_unreachable_shared_store_is_one_line_and_exit_code_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORE_STORE", "postgresql://me:secret@127.0.0.1:9/lore")
    for command in (["serve", "--port", "1"], ["keys", "list"]):
        result = CliRunner().invoke(main, [*command, "--data", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert "cannot reach the PostgreSQL store postgresql://me:***@127.0.0.1:9/lore" \
            in result.output and "secret" not in result.output
        assert "Traceback" not in result.output


def test_a_read_key_needs_its_collection(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["keys", "create", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "--collection NAME" in result.output


@pytest.mark.slow
def test_serve_binds_loopback_and_stops_cleanly(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "lore.cli", "serve", "--port", str(port), "--data",
         str(tmp_path)], stderr=subprocess.PIPE, text=True,
        env={**os.environ, "LORE_HOST": "127.0.0.1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM), errors
    assert "Traceback" not in errors
    assert f"http://127.0.0.1:{port}/" in errors
