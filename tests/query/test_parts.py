"""The pure parts of query planning: parsing what a model wrote, budgets, fusion, routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lore.generate.protocol import Message
from lore.query.budget import Budget
from lore.query.common import fuse_hits
from lore.query.iterative import first_sentence
from lore.query.prompts import final_answer, lines_of, without_mark
from lore.query.router import route
from lore.query.sql import parse_plan, path_filter, render_rows
from lore.store.metadata import SCHEMA, MetadataRows
from lore.testing.fakes import ScriptedGenerator
from lore.types import Chunk, Hit


def test_lines_of_strips_bullets_numbers_labels_and_repeats() -> None:
    text = "1. alpha query\n- Beta query\nQuery 3: gamma\n\n* alpha query\nthe question"
    assert lines_of(text, 5, "The question") == ["alpha query", "Beta query", "gamma"]
    assert lines_of(text, 2) == ["alpha query", "Beta query"]
    assert lines_of("（1）缓存\n2、清理", 5) == ["缓存", "清理"]


def test_the_answer_mark_is_found_in_either_language() -> None:
    assert final_answer("So the answer is: Oslo.") == "Oslo"
    assert final_answer("所以答案是：奥斯陆。") == "奥斯陆"
    assert final_answer("Ada Park wrote it.") is None
    assert without_mark("so the answer is Ada Park") == "Ada Park"
    assert first_sentence("Ada wrote it. Then more.\nNext line") == "Ada wrote it."
    assert first_sentence("  ") == ""


def test_a_plan_needs_a_statement_and_may_name_content() -> None:
    plan = parse_plan("SQL: SELECT count(*) FROM documents\nSEARCH: invoices")
    assert plan is not None and plan.sql.startswith("SELECT") and plan.search == "invoices"
    assert parse_plan("SQL: `SELECT 1`\nSEARCH: none") == parse_plan("sql：SELECT 1")
    assert parse_plan("no statement here") is None


def test_rows_render_as_a_value_or_numbered_lines_with_paths_shown() -> None:
    one = MetadataRows("s", ("count(*)",), ((3,),))
    assert render_rows(one, "en") == "3"
    many = MetadataRows("s", ("path", "bytes"), (("/kb/a.md", 10), ("/kb/b.md", 20)), True)
    text = render_rows(many, "en", show=lambda p: p.rsplit("/", 1)[-1])
    assert text.splitlines() == ["[1] path: a.md, bytes: 10", "[2] path: b.md, bytes: 20",
                                 "(the first 2 rows; more match)"]
    assert render_rows(MetadataRows("s", ("n",), ()), "zh") == "知识库中没有符合条件的文档。"


def test_paths_become_a_filter_with_glob_characters_escaped() -> None:
    rows = MetadataRows("s", ("path",), (("/kb/a[1].md",), ("/kb/b*.md",), (None,)))
    only = path_filter(rows)
    assert only is not None and only.paths == ("/kb/a[[]1].md", "/kb/b[*].md")
    assert path_filter(MetadataRows("s", ("name",), (("a.md",),))) is None


def test_the_budget_keeps_a_call_for_the_answer_and_counts_tokens() -> None:
    generator = ScriptedGenerator()
    generator.script("a rewrite")
    budget = Budget(generator, max_calls=3, max_tokens=10_000)
    asked = [Message("user", "write a query")]
    assert budget.write(asked, 16) is not None and budget.write(asked, 16) is not None
    assert budget.write(asked, 16) is None and budget.refused  # the third is the answer's
    assert budget.calls == 2 and budget.tokens > 0
    tight = Budget(generator, max_calls=8, max_tokens=50)
    assert tight.write(asked, 64) is None  # 64 output tokens cannot fit in 50


def hit(name: str) -> Hit:
    return Hit(Chunk(name, name, 0, len(name), name), 1.0, "hybrid", f"/{name}")


def test_fusion_ranks_by_reciprocal_rank_and_keeps_the_first_lists_hit() -> None:
    first = [hit("a"), hit("b"), hit("c")]
    second = [hit("c"), hit("d")]
    fused = fuse_hits([first, second], 3)
    assert [h.chunk.doc_id for h in fused] == ["c", "a", "b"]
    assert fused[0] is first[2]


@pytest.mark.parametrize(("question", "strategy"), [
    ("Which markdown files changed last week?", "sql"),
    ("What is the largest PDF?", "sql"),
    ("最近添加了哪些文档？", "sql"),
    ("Who is the author of the sweeper?", "single"),
    ("What is the capital of France?", "single"),
    ("Which is older, the sweeper or the cache?", "iterative"),
    ("The director of the romantic comedy Big Stone Gap is based in what New York city?",
     "iterative"),
    ("The director of Big Stone Gap is based where?", "single"),
    ("缓存多久清理一次？", "single"),
])
def test_routes_follow_the_words_of_the_question(question: str, strategy: str) -> None:
    assert route(question).strategy == strategy


def test_the_documented_view_is_the_one_the_model_is_shown() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "query.md"
    assert SCHEMA in docs.read_text(encoding="utf-8")
