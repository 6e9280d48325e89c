"""Where model files come from and how derived copies of them are kept.

- Locating: ``resolve_model_dir`` takes a local directory as is and fetches a hub id
  (``org/name``) through ``huggingface_hub``'s own cache (``fetch_from_hub``); ``read_json``
  reads a model directory's small JSON files.
- Caching: lore's derived copies (reassembled GGUF files, converted embedders) live under
  ``default_cache_dir`` (``$XDG_CACHE_HOME/lore``, else ``~/.cache/lore``). Each is written into
  a staging directory beside its target and renamed into place (``replace_dir``), so no reader
  ever sees half a copy, with a ``manifest.json`` that records what it holds.
- Checksumming: ``sha256_file`` hashes in blocks; ``verify_once`` hashes a file at most once
  per process while its size and modification time stay the same, because hashing a model of
  hundreds of megabytes on every load would cost more than the load.

>>> default_cache_dir({"XDG_CACHE_HOME": "/c"})
PosixPath('/c/lore')
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from lore.errors import ConfigError, MissingDependency

MANIFEST = "manifest.json"
"""The file beside a derived copy that records its sizes and checksums."""
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "1_Pooling/*"]
"""What ``resolve_model_dir`` fetches of a hub model: configs, tokenizer and weights (not the
pickled ``*.bin`` or ONNX copies many repositories hold too)."""

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_BLOCK = 1 << 22

_verified: set[tuple[str, int, int]] = set()
"""``(path, size, mtime_ns)`` of files whose checksum passed in this process."""
_verified_lock = threading.Lock()


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/lore``, else ``~/.cache/lore``: the root of everything lore caches."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lore"


def models_cache_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/lore/models``, else ``~/.cache/lore/models``."""
    return default_cache_dir(environ) / "models"


def resolve_model_dir(model: str | Path) -> Path:
    """A local directory as is; a hub id (``org/name``) through ``huggingface_hub``'s cache
    (the files ``HUB_PATTERNS`` names)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if isinstance(model, Path) or not _HUB_ID.match(model):
        raise ConfigError(f"model {str(model)!r} is not a directory or a hub id (org/name)")
    return fetch_from_hub(model, "directory",
                          lambda hub: hub.snapshot_download(model, allow_patterns=HUB_PATTERNS))


def fetch_from_hub(spec: str, kind: str, download: Callable[[ModuleType], str | Path], *,
                   missing: str = "") -> Path:
    """Run ``download(huggingface_hub)`` and return the path it gives.

    Args:
        spec: the model as the user wrote it, for the messages.
        kind: what ``spec`` is not locally (``directory``, ``file``), for the messages.
        download: fetches through the hub client's cache, given the ``huggingface_hub`` module.
        missing: put before the install hint when ``huggingface_hub`` is not installed.

    Raises:
        MissingDependency: ``huggingface_hub`` is not installed.
        ConfigError: the download failed (network, authentication, not found).
    """
    try:
        import huggingface_hub
    except ImportError:
        raise MissingDependency(f"{missing}hub models need: pip install huggingface_hub") \
            from None
    try:
        return Path(download(huggingface_hub))
    except Exception as exc:  # the hub client raises many types: network, auth, not found
        raise ConfigError(f"model {spec!r} is not a local {kind}, and fetching it from the "
                          f"Hugging Face hub failed: {exc}") from exc


def read_json(path: Path) -> Any:
    """A model directory's JSON file; None when it is absent, a ConfigError when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def sha256_file(path: Path) -> bytes:
    """The sha256 digest of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.digest()


def verify_once(path: Path, stat: os.stat_result, digest_ok: Callable[[bytes], bool]) -> bool:
    """Whether ``digest_ok`` accepts the file's sha256, hashing it only if no earlier call of
    this process saw it pass at this size and modification time."""
    if _verify_key(path, stat) in _verified:
        return True
    if not digest_ok(sha256_file(path)):
        return False
    remember_verified(path)
    return True


def remember_verified(path: Path) -> None:
    """Skip hashing ``path`` again in this process while its size and mtime stay the same."""
    key = _verify_key(path, path.stat())
    with _verified_lock:
        _verified.add(key)


def write_manifest(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``directory/manifest.json`` and flush it to disk."""
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    fsync_file(directory / MANIFEST)


def read_manifest(directory: Path) -> Any:
    """``directory/manifest.json``; raises ``OSError`` or ``ValueError`` when unreadable."""
    return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))


def staging_dir(cache_root: Path, name: str) -> Path:
    """A fresh hidden directory ``cache_root/.<name>-*`` to write a copy of ``name`` in."""
    return Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_root))


def replace_dir(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, moving a stale ``target`` aside first. Should another
    process rename its own (identical) copy into place first, keep that one."""
    if target.exists():
        graveyard = Path(tempfile.mkdtemp(prefix=f".{target.name}-stale-", dir=target.parent))
        with contextlib.suppress(FileNotFoundError):
            os.replace(target, graveyard / "old")
        shutil.rmtree(graveyard, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:
        if not target.is_dir():
            raise


def fsync_file(path: Path) -> None:
    """Flush a written file to disk before the rename that publishes it."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _verify_key(path: Path, stat: os.stat_result) -> tuple[str, int, int]:
    return str(path), stat.st_size, stat.st_mtime_ns
