"""Building rerankers from spec strings."""

from __future__ import annotations

import pytest

from lore.errors import ConfigError
from lore.rerank.registry import RERANKERS, create_reranker
from lore.testing.contracts import RerankerContract
from lore.testing.fakes import OverlapReranker


class TestOverlapReranker(RerankerContract):
    @pytest.fixture
    def reranker(self) -> OverlapReranker:
        return OverlapReranker()


def test_registered_kinds() -> None:
    assert sorted(RERANKERS) == ["cross-encoder", "llm", "overlap"]


def test_the_fake_is_registered_like_real_backends() -> None:
    assert create_reranker("overlap").name == "overlap"


@pytest.mark.parametrize("spec, message", [
    ("bm25", r"unknown reranker 'bm25'; choose from cross-encoder:<model>, llm:<model>"),
    ("", "unknown reranker"),
    ("cross-encoder", "cross-encoder needs a model"),
    ("cross-encoder:", "cross-encoder needs a model"),
    ("overlap:strict", "takes no argument"),
    ("llm:gpt-9", r"unknown model 'gpt-9'; choose from \['qwen-0.5b', 'qwen-1.5b', 'smollm2'\]"),
])
def test_bad_specs_say_what_to_write(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_reranker(spec)


def test_a_cross_encoder_spec_that_is_no_model_is_named(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="no-such-dir"):
        create_reranker("cross-encoder:no-such-dir")
