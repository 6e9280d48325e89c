"""Every strategy with a real model writing its part (``slow``): SmolLM2-135M for the
control flow over MiniLM search, Qwen2.5-Coder-0.5B for the SQL it writes. What a small
model writes is not asserted, only that each strategy runs end to end on it: its steps, its
costs and a checked answer."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import lore
from lore.config import GenerateConfig, QueryConfig
from lore.query.registry import STRATEGY_NAMES
from lore.testing.models import has_model, needs_smollm2
from lore.types import Answer, Step

FILES = {
    "sweeper.md": "# Sweeper\n\nThe cache sweeper was written by Ada Park in 2019. It removes "
                  "expired entries every minute.\n",
    "park.md": "# Ada Park\n\nAda Park is an engineer born in Oslo. She studied chemistry "
               "before she wrote software.\n",
    "tea.txt": "Green tea is made from the leaves of the tea plant, steamed soon after "
               "picking.\n",
    "notes.md": "# Invoices\n\nInvoices are paid within thirty days of receipt.\n",
}
SETTINGS = GenerateConfig(model="smollm2", context_tokens=2048, answer_tokens=48, k=3)
PLANNING = QueryConfig(plan_tokens=40, long_context_tokens=2048, hops=2)
"""Short texts keep the slow tests short; the control flow is the same at any length."""


@pytest.fixture(scope="module", autouse=True)
def one_core() -> Iterator[None]:
    """One llama.cpp thread, as tests/generate/test_answer.py explains."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
        yield


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[lore.KnowledgeBase]:
    root = tmp_path_factory.mktemp("real-strategies")
    folder = root / "notes"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    with lore.open(root / "kb", model="minilm") as base:
        base.index([folder])
        yield base


def steps_of(kb: lore.KnowledgeBase, question: str, strategy: str,
             settings: GenerateConfig = SETTINGS) -> tuple[list[Step], Answer]:
    events = list(kb.ask_steps(question, settings=settings, strategy=strategy,  # type: ignore[arg-type]
                               planning=PLANNING))
    answer = events[-1]
    assert isinstance(answer, Answer)
    return [e for e in events if isinstance(e, Step)], answer


@needs_smollm2
@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(set(STRATEGY_NAMES) - {"sql"}))
def test_each_strategy_runs_end_to_end_on_a_real_model(kb: lore.KnowledgeBase,
                                                      strategy: str) -> None:
    steps, answer = steps_of(kb, "Where was the author of the cache sweeper born?", strategy)
    assert answer.found and answer.text and answer.sources
    assert any(step.kind == "retrieve" and step.hits for step in steps)
    planned = [step for step in steps if step.calls]
    assert all(step.tokens > 0 and step.seconds > 0 for step in planned)
    assert answer.model_calls == sum(s.calls for s in answer.steps) + 1
    assert answer.model_calls <= PLANNING.max_calls


@pytest.mark.skipif(not has_model("qwen-0.5b"), reason="needs Qwen2.5-Coder-0.5B")
@pytest.mark.slow
def test_qwen_writes_sql_that_counts_the_collection(kb: lore.KnowledgeBase) -> None:
    settings = GenerateConfig(model="qwen-0.5b", context_tokens=4096, k=3)
    steps, answer = steps_of(kb, "How many markdown files are there?", "sql", settings)
    assert [s.kind for s in steps][:2] == ["plan", "sql"]
    assert answer.text == "3", steps
