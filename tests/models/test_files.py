"""Locating, fetching, caching and checksumming model files."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lore.errors import ConfigError, MissingDependency
from lore.models import files
from lore.models.files import (
    default_cache_dir,
    fetch_from_hub,
    models_cache_dir,
    read_json,
    read_manifest,
    replace_dir,
    resolve_model_dir,
    sha256_file,
    staging_dir,
    verify_once,
    write_manifest,
)


@pytest.fixture
def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which files this process has hashed, as a new process would."""
    monkeypatch.setattr(files, "_verified", set())


def test_cache_location_follows_xdg() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/lore")
    assert default_cache_dir({}) == Path.home() / ".cache" / "lore"
    assert models_cache_dir({"XDG_CACHE_HOME": "/var/cache/me"}) == \
        Path("/var/cache/me/lore/models")
    assert models_cache_dir({}) == Path.home() / ".cache" / "lore" / "models"


def test_a_local_directory_is_used_as_is(tmp_path: Path) -> None:
    assert resolve_model_dir(tmp_path) == tmp_path
    assert resolve_model_dir(str(tmp_path)) == tmp_path


def test_neither_directory_nor_hub_id_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory or a hub id"):
        resolve_model_dir(tmp_path / "nope")
    with pytest.raises(ConfigError, match="'no-such-dir' is not a directory or a hub id"):
        resolve_model_dir("no-such-dir")


def test_a_hub_id_is_fetched_through_the_hub_cache(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    asked: list[tuple[str, object]] = []

    def snapshot_download(repo_id: str, allow_patterns: object) -> str:
        asked.append((repo_id, allow_patterns))
        return str(tmp_path)

    monkeypatch.setitem(sys.modules, "huggingface_hub", _hub(snapshot_download=snapshot_download))
    assert resolve_model_dir("org/model") == tmp_path
    assert asked == [("org/model", files.HUB_PATTERNS)]


def test_a_missing_hub_client_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(MissingDependency, match="^hub models need: pip install huggingface_hub"):
        resolve_model_dir("org/model")
    with pytest.raises(MissingDependency, match="^'a/b/c' is not a local file; hub models"):
        fetch_from_hub("a/b/c", "file", lambda hub: "", missing="'a/b/c' is not a local file; ")


def test_a_failed_download_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(hub: ModuleType) -> str:
        raise OSError("network unreachable")

    monkeypatch.setitem(sys.modules, "huggingface_hub", _hub())
    with pytest.raises(ConfigError, match="model 'org/x' is not a local directory, and fetching "
                       "it from the Hugging Face hub failed: network unreachable"):
        fetch_from_hub("org/x", "directory", offline)


def test_read_json(tmp_path: Path) -> None:
    (tmp_path / "good.json").write_text('{"a": 1}')
    (tmp_path / "bad.json").write_text("{not json")
    assert read_json(tmp_path / "good.json") == {"a": 1}
    assert read_json(tmp_path / "absent.json") is None
    with pytest.raises(ConfigError, match="cannot read .*bad.json"):
        read_json(tmp_path / "bad.json")


def test_sha256_file_reads_in_blocks(tmp_path: Path) -> None:
    data = os.urandom((1 << 22) + 1000)  # more than one block
    (tmp_path / "blob").write_bytes(data)
    assert sha256_file(tmp_path / "blob") == hashlib.sha256(data).digest()


def test_a_file_is_hashed_once_per_process(tmp_path: Path, new_process: None) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights")
    seen: list[bytes] = []

    def digest_ok(digest: bytes) -> bool:
        seen.append(digest)
        return digest == hashlib.sha256(b"weights").digest()

    assert verify_once(path, path.stat(), digest_ok)
    assert verify_once(path, path.stat(), digest_ok)
    assert len(seen) == 1
    path.write_bytes(b"damaged")  # new size and modification time: hashed again
    os.utime(path, ns=(0, 0))
    assert not verify_once(path, path.stat(), digest_ok)
    assert len(seen) == 2


def test_a_manifest_round_trips(tmp_path: Path) -> None:
    write_manifest(tmp_path, {"format_version": 1, "size": 3})
    assert read_manifest(tmp_path) == {"format_version": 1, "size": 3}
    assert (tmp_path / "manifest.json").read_text().startswith("{\n  ")  # indented


def test_replace_dir_swaps_a_stale_copy_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "model-abc"
    target.mkdir()
    (target / "old").write_text("stale")
    staging = staging_dir(tmp_path, "model")
    assert staging.name.startswith(".model-") and staging.parent == tmp_path
    (staging / "new").write_text("fresh")
    replace_dir(staging, target)
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["model-abc"]


def _hub(**functions: object) -> ModuleType:
    module = ModuleType("huggingface_hub")
    for name, function in functions.items():
        setattr(module, name, function)
    return module
