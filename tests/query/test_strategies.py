"""Each query strategy's control flow over a real knowledge base (SQLite, BM25, hash
vectors), with the scripted generator writing the model's part."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import lore
from lore.api import KnowledgeBase
from lore.config import QueryConfig
from lore.query.registry import STRATEGIES, STRATEGY_NAMES
from lore.testing.fakes import ScriptedGenerator
from lore.types import Answer, Step

FILES = {
    "cache.md": "# Cache expiry\n\nThe sweeper removes expired cache entries every minute.\n",
    "sweeper.md": "# Sweeper history\n\nThe sweeper was written by Ada Park in 2019.\n",
    "park.md": "# Ada Park\n\nAda Park was born in Oslo and studied chemistry.\n",
    "billing.txt": "Invoices are paid within thirty days of receipt.\n",
    "pay.py": "def pay_invoice(invoice):\n    \"\"\"Pay one invoice in full.\"\"\"\n"
              "    return invoice.total\n",
}


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("strategies")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in FILES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    with lore.open(root / "kb", model="hash") as kb:
        kb.index([corpus])
    return root / "kb"


@pytest.fixture
def kb(kb_dir: Path) -> Iterator[KnowledgeBase]:
    with lore.open(kb_dir, model="hash") as base:
        yield base


def ask(kb: KnowledgeBase, question: str, strategy: str, **planning: object
        ) -> tuple[list[str | Step | Answer], Answer]:
    settings = replace(kb.config.query, **planning)  # type: ignore[arg-type]
    events = list(kb.ask_steps(question, model="scripted", strategy=strategy,  # type: ignore[arg-type]
                               planning=settings, k=3))
    final = events[-1]
    assert isinstance(final, Answer)
    return events, final


def kinds(answer: Answer) -> list[str]:
    return [step.kind for step in answer.steps]


def found_paths(step: Step) -> set[str]:
    return {Path(hit.path).name for hit in step.hits}


def last_prompt(scripted: ScriptedGenerator) -> str:
    return scripted.asked[-1][-1].content


def test_every_named_strategy_is_registered_and_settable() -> None:
    assert set(STRATEGY_NAMES) == set(STRATEGIES)
    assert QueryConfig().strategy in STRATEGIES


def test_single_retrieves_once_for_the_question(kb: KnowledgeBase,
                                                scripted: ScriptedGenerator) -> None:
    scripted.enqueue("Every minute [1].")
    events, answer = ask(kb, "How often are expired cache entries removed?", "single")
    assert kinds(answer) == ["retrieve"] and answer.strategy == "single"
    assert "cache.md" in found_paths(answer.steps[0])
    assert "".join(e for e in events if isinstance(e, str)) == "Every minute [1]."
    assert answer.model_calls == 1


def test_multi_query_searches_each_rewrite_beside_the_question_and_fuses(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("1. who wrote the sweeper\n2. Ada Park birthplace\n- Oslo chemistry",
                     "Ada Park [1].")
    _, answer = ask(kb, "Where was the author of the sweeper born?", "multi-query")
    assert kinds(answer) == ["rewrite", "retrieve", "retrieve", "retrieve", "retrieve"]
    queries = [step.text for step in answer.steps if step.kind == "retrieve"]
    assert queries == ["Where was the author of the sweeper born?", "who wrote the sweeper",
                       "Ada Park birthplace", "Oslo chemistry"]
    assert "park.md" in {Path(s.passage.hit.path).name for s in answer.sources} or \
        "park.md" in found_paths(answer.steps[2])
    assert answer.steps[0].calls == 1 and answer.model_calls == 2
    assert answer.model_tokens > answer.timings.prompt_tokens


def test_hyde_searches_the_hypothetical_passage_by_its_embedding(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("Invoices are usually paid within a month of receipt.", "Thirty days [1].")
    _, answer = ask(kb, "How long until a bill is settled?", "hyde")
    assert kinds(answer) == ["hyde", "retrieve", "retrieve"]
    hyde_search = answer.steps[2]
    assert hyde_search.text.startswith("Invoices are usually paid")
    assert all(set(hit.scores) == {"dense"} for hit in hyde_search.hits)
    assert "billing.txt" in found_paths(hyde_search)


def test_step_back_searches_the_general_question_too(kb: KnowledgeBase,
                                                    scripted: ScriptedGenerator) -> None:
    scripted.enqueue("What is known about Ada Park's life?", "Oslo [1].")
    _, answer = ask(kb, "In which city was Ada Park born?", "step-back")
    assert kinds(answer) == ["step-back", "retrieve", "retrieve"]
    assert answer.steps[2].text == "What is known about Ada Park's life?"
    asked = scripted.asked[0]
    assert "more general question" in asked[-1].content and "Ada Park" in asked[-1].content
    assert [m.role for m in asked] == ["system", "user", "assistant", "user"]  # one example
    assert "Mira Holt" in asked[1].content and "Mira Holt" not in asked[-1].content


def test_a_chinese_question_is_planned_in_chinese(kb: KnowledgeBase,
                                                  scripted: ScriptedGenerator) -> None:
    scripted.enqueue("艾达·帕克的生平是什么？", "奥斯陆 [1]。")
    _, answer = ask(kb, "清理程序的作者出生在哪里？", "step-back")
    system, *_, user = scripted.asked[0]
    assert "搜索引擎" in system.content and "更一般的问题" in user.content
    assert answer.steps[2].text == "艾达·帕克的生平是什么？"


def test_decompose_answers_sub_questions_in_order_and_cites_them_in_notes(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("Who wrote the sweeper?\nWhere was that person born?",
                     "Ada Park", "Oslo", "The author, Ada Park, was born in Oslo [1].")
    _, answer = ask(kb, "Where was the author of the sweeper born?", "decompose")
    assert kinds(answer) == ["decompose", "sub-question", "sub-question", "retrieve",
                             "sub-answer", "retrieve", "sub-answer"]
    second_search = answer.steps[5]
    assert second_search.text == "Where was that person born? Ada Park"  # self-ask
    assert "park.md" in found_paths(second_search)
    final = last_prompt(scripted)
    assert "Found in earlier steps:" in final
    assert "Who wrote the sweeper? Ada Park [" in final
    assert answer.model_calls == 4


def test_iterative_reasons_retrieves_for_each_sentence_and_stops_at_the_answer(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("The sweeper was written by Ada Park. More text follows here.",
                     "Ada Park was born in Oslo.", "So the answer is: Oslo.", "Oslo [2].")
    _, answer = ask(kb, "Where was the author of the sweeper born?", "iterative", hops=5)
    assert kinds(answer) == ["retrieve", "reason", "retrieve", "reason", "retrieve", "reason"]
    hops = [step.text for step in answer.steps if step.kind == "retrieve"][1:]
    asked = "Where was the author of the sweeper born?"
    assert hops == [f"{asked} The sweeper was written by Ada Park.",
                    f"{asked} Ada Park was born in Oslo."]
    reasoning_prompt = scripted.asked[1][-1].content
    assert "Reasoning so far: The sweeper was written by Ada Park." in reasoning_prompt
    assert "So the answer is: Oslo." in last_prompt(scripted)  # reasoning as notes
    hop_chunks = [hit.chunk.id for step in answer.steps for hit in step.hits]
    assert len(answer.sources) == len({s.passage.hit.chunk.id for s in answer.sources})
    assert hop_chunks
    first = answer.steps[0].hits  # the graph walks beside lexical and dense search
    assert any("graph" in hit.ranks for hit in first)


def test_an_answer_stated_before_any_hop_is_searched_once_more(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("So the answer is: Ada Park wrote the sweeper.", "So the answer is: Oslo.",
                     "Oslo [1].")
    _, answer = ask(kb, "Where was the author of the sweeper born?", "iterative", hops=3)
    assert kinds(answer) == ["retrieve", "reason", "retrieve", "reason"]
    assert answer.steps[2].text.endswith("born? Ada Park wrote the sweeper")
    worked, *_ = [m.content for m in scripted.asked[0] if m.role == "assistant"]
    assert worked == "The cache sweeper was written by Ada Park."  # the chain shown first


def test_iterative_stops_when_the_reasoning_repeats_itself(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("Ada Park wrote the sweeper.", "Ada Park wrote the sweeper!", "Oslo [1].")
    _, answer = ask(kb, "Where was the author of the sweeper born?", "iterative", hops=3)
    assert kinds(answer) == ["retrieve", "reason", "retrieve", "reason"]
    assert "Ada Park wrote the sweeper." in last_prompt(scripted)


def test_iterative_stops_at_the_hop_limit(kb: KnowledgeBase,
                                          scripted: ScriptedGenerator) -> None:
    scripted.enqueue("Ada Park wrote it.", "Oslo [1].")
    _, answer = ask(kb, "Where was the author of the sweeper born?", "iterative", hops=1)
    assert kinds(answer) == ["retrieve", "reason", "retrieve"]


def test_a_spent_budget_stops_planning_and_still_answers(kb: KnowledgeBase,
                                                         scripted: ScriptedGenerator) -> None:
    scripted.enqueue("Ada Park wrote it.", "Oslo [1].")
    _, answer = ask(kb, "Where was the author of the sweeper born?", "iterative", hops=3,
                    max_calls=2)
    assert kinds(answer) == ["retrieve", "reason", "retrieve", "budget"]
    assert "budget" in answer.steps[-1].text and answer.text == "Oslo [1]."
    assert answer.model_calls == 2


def test_reflect_retries_once_with_a_rewritten_query_when_the_check_fails(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("It happens on Tuesdays [7].", "invoice payment deadline",
                     "Invoices are paid within thirty days [1].")
    events, answer = ask(kb, "When must a bill be settled?", "reflect")
    assert kinds(answer)[:5] == ["retrieve", "check", "rewrite", "retrieve", "check"]
    assert "do not exist" in answer.steps[1].text
    assert answer.steps[4].text == "the answer is supported by its sources"
    assert answer.text.startswith("Invoices are paid within thirty days")
    assert [e for e in events if isinstance(e, str)] == [answer.text]
    assert answer.steps[-1].kind == "answer" and answer.model_calls == 3


def test_reflect_counts_its_first_answer_against_the_budget(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("It happens on Tuesdays [7].")
    _, answer = ask(kb, "When must a bill be settled?", "reflect", max_calls=2)
    assert kinds(answer) == ["retrieve", "check", "budget"]
    assert answer.text == "It happens on Tuesdays." and answer.model_calls == 1


def test_reflect_keeps_an_answer_that_passes(kb: KnowledgeBase,
                                             scripted: ScriptedGenerator) -> None:
    scripted.enqueue("The sweeper removes expired cache entries every minute [1].")
    _, answer = ask(kb, "How often does the sweeper remove expired cache entries?", "reflect")
    assert kinds(answer) == ["retrieve", "check"] and answer.model_calls == 1


def test_long_context_reads_whole_documents(kb: KnowledgeBase,
                                            scripted: ScriptedGenerator) -> None:
    scripted.enqueue("In full [1].")
    _, answer = ask(kb, "What does pay_invoice return?", "long-context",
                    long_context_tokens=4096)
    read = {Path(s.passage.hit.path).name: s.passage.text for s in answer.sources}
    assert read["pay.py"] == FILES["pay.py"].rstrip("\n") or read["pay.py"] == FILES["pay.py"]


def test_sql_answers_a_count_from_the_metadata_view(kb: KnowledgeBase,
                                                    scripted: ScriptedGenerator) -> None:
    scripted.enqueue("SQL: SELECT count(*) FROM documents WHERE format = 'markdown'\n"
                     "SEARCH: none")
    events, answer = ask(kb, "How many markdown files are there?", "sql")
    assert answer.text == "3" and kinds(answer) == ["plan", "sql", "rows"]
    assert answer.model_calls == 1 and "CREATE" not in answer.steps[1].text
    assert "documents(" in scripted.asked[0][0].content  # the view's schema


def test_sql_that_leaves_out_a_named_condition_is_written_once_more(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("SQL: SELECT count(*) FROM documents\nSEARCH: none",
                     "SQL: SELECT count(*) FROM documents WHERE format = 'markdown'\n"
                     "SEARCH: none")
    _, answer = ask(kb, "How many markdown files are there?", "sql")
    assert kinds(answer) == ["plan", "plan", "sql", "rows"] and answer.text == "3"
    assert answer.model_calls == 2
    retry = scripted.asked[1][-1].content
    assert "format = 'markdown'" in retry and scripted.asked[1][-2].role == "assistant"


def test_sql_with_content_searches_within_the_rows_documents(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("SQL: SELECT path FROM documents WHERE format = 'python'\n"
                     "SEARCH: invoice", "pay.py pays one invoice [1].")
    _, answer = ask(kb, "Which Python files mention invoices?", "sql")
    assert kinds(answer) == ["plan", "sql", "rows", "retrieve"]
    assert found_paths(answer.steps[3]) == {"pay.py"}


@pytest.mark.parametrize("statement", [
    "DELETE FROM documents",
    "SELECT 1; DROP TABLE documents",
    "SELECT * FROM files",
    "ATTACH DATABASE 'x.db' AS x",
    "SELECT load_extension('evil')",
])
def test_a_writing_or_escaping_statement_is_refused_and_search_answers_instead(
        kb: KnowledgeBase, scripted: ScriptedGenerator, statement: str) -> None:
    scripted.enqueue(f"SQL: {statement}\nSEARCH: none", "Thirty days [1].")
    before = kb.status().documents
    _, answer = ask(kb, "How many invoices files are there?", "sql")
    assert kinds(answer) == ["plan", "sql", "fallback", "retrieve"]
    assert "refused" in answer.steps[2].text
    assert answer.text == "Thirty days [1]." and kb.status().documents == before


@pytest.mark.parametrize(("question", "route"), [
    ("How many PDF files did I add this month?", "sql"),
    ("有多少个文件？", "sql"),
    ("In which city was the person who wrote the cache sweeper born?", "iterative"),
    ("Were Ada Park and the sweeper's tester of the same nationality?", "iterative"),
    ("How often are expired cache entries removed?", "single"),
])
def test_auto_routes_by_the_question_and_records_the_route(
        kb: KnowledgeBase, scripted: ScriptedGenerator, question: str, route: str) -> None:
    scripted.script("SQL: SELECT count(*) FROM documents\nSEARCH: none", when="SQLite")
    scripted.script("So the answer is: Oslo.", when="next sentence of reasoning")
    scripted.script("Oslo [1].", when="Answer the question")
    scripted.script("Oslo [1].", when="请用")
    _, answer = ask(kb, question, "auto")
    assert answer.steps[0].kind == "route" and answer.steps[0].text.startswith(route)
    assert answer.strategy == route


@pytest.mark.parametrize("strategy", sorted(set(STRATEGY_NAMES) - {"auto"}))
def test_every_strategy_ends_with_one_answer_whose_text_is_its_pieces(
        kb: KnowledgeBase, scripted: ScriptedGenerator, strategy: str) -> None:
    scripted.script("SQL: SELECT count(*) FROM documents\nSEARCH: none", when="SQLite")
    scripted.script("So the answer is: every minute.", when="next sentence of reasoning")
    scripted.script("every minute")
    events, answer = ask(kb, "How often are expired cache entries removed?", strategy,
                         long_context_tokens=4096)
    assert sum(isinstance(e, Answer) for e in events) == 1
    assert "".join(e for e in events if isinstance(e, str)) == answer.text
    assert [e for e in events if isinstance(e, Step)] == [
        s for s in answer.steps if s.kind != "answer"]
    assert answer.strategy == strategy
