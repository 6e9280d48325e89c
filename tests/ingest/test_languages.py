"""Which language source code is in: every suffix has a grammar, and snippets are sniffed."""

from __future__ import annotations

import pytest

from lore.ingest.grammars import GRAMMARS
from lore.ingest.languages import LANGUAGE_BY_SUFFIX, sniff_language


def test_every_language_named_by_a_suffix_has_a_grammar() -> None:
    required = ".py .pyi .js .mjs .cjs .jsx .ts .tsx .go .rs .java .c .h .cc .cpp .cxx .hpp .hh"
    assert {*required.split(), ".hxx"} <= set(LANGUAGE_BY_SUFFIX)
    assert set(LANGUAGE_BY_SUFFIX.values()) == set(GRAMMARS)
    assert LANGUAGE_BY_SUFFIX[".tsx"] == "tsx" and GRAMMARS["tsx"].grammar == "tsx"


@pytest.mark.parametrize(("snippet", "language"), [
    ("def f(x):\n    return x", "python"),
    ("@cache\ndef f(x):\n    return x", "python"),
    ("class Cache:\n    pass", "python"),
    ("func (c *Cache) Get(key string) string {\n}", "go"),
    ("pub fn get(key: &str) -> String {\n}", "rust"),
    ("export async function load(url) {\n}", "javascript"),
    ("The function returns a value.", None),
    ("definitely not code", None),
])
def test_sniff_language_of_a_definition(snippet: str, language: str | None) -> None:
    assert sniff_language(snippet) == language
