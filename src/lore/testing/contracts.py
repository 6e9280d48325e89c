"""Contract suites, written once per protocol. A backend's test inherits one and supplies a
fixture; every backend then keeps the same promises."""

from __future__ import annotations


class EmbedderContract:
    """Promises of ``lore.embed.protocol.Embedder``; subclasses provide an ``embedder`` fixture."""


class VectorIndexContract:
    """Promises of ``lore.store.protocol.VectorIndex``; subclasses provide an ``index`` fixture
    (a factory taking ``dim``)."""
