"""Reranker backends by kind, and ``create_reranker`` to build one from a spec string.

A spec is ``kind`` or ``kind:argument``:

- ``cross-encoder:<dir or org/name>``: a sentence-transformers CrossEncoder directory or hub id;
- ``llm:<model>``: a local GGUF model as judge (``llm`` alone: ``qwen-0.5b``); the model is a
  name in ``lore.models.gguf.MODELS``, a ``.gguf`` path or ``owner/repo/file.gguf``;
- ``overlap``: the shipped test fake (word overlap, no model).

>>> create_reranker("overlap").name
'overlap'
"""

from __future__ import annotations

from collections.abc import Callable

from lore.errors import ConfigError
from lore.rerank.protocol import Reranker


def create_cross_encoder(argument: str) -> Reranker:
    """``cross-encoder:<dir or org/name>``; weights load on the first ``score``."""
    from lore.rerank.cross_encoder import CrossEncoderReranker

    if not argument:
        raise ConfigError("cross-encoder needs a model: cross-encoder:<directory or org/name>")
    return CrossEncoderReranker(argument)


def create_llm(argument: str) -> Reranker:
    """``llm:<model spec>``; the model file is resolved now, loaded on the first ``score``."""
    from lore.models.gguf import DEFAULT_GGUF
    from lore.rerank.llm import LlmReranker

    return LlmReranker(argument or DEFAULT_GGUF)


def create_overlap(argument: str) -> Reranker:
    from lore.testing.fakes import OverlapReranker

    if argument:
        raise ConfigError(f"the overlap reranker takes no argument, got {argument!r}")
    return OverlapReranker()


RERANKERS: dict[str, Callable[[str], Reranker]] = {
    "cross-encoder": create_cross_encoder,
    "llm": create_llm,
    "overlap": create_overlap,
}
"""Registered reranker kinds; each factory takes the text after ``kind:`` (may be empty)."""


def create_reranker(spec: str) -> Reranker:
    """Build the reranker ``spec`` names (see the module docstring for the forms)."""
    kind, _, argument = spec.strip().partition(":")
    factory = RERANKERS.get(kind)
    if factory is None:
        raise ConfigError(f"unknown reranker {spec!r}; choose from cross-encoder:<model>, "
                          f"llm:<model> or overlap (kinds: {sorted(RERANKERS)})")
    return factory(argument.strip())
