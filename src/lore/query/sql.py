"""``sql``: a question about the collection itself (how many, which files, when, how large)
becomes one read-only SELECT over the ``documents`` view (``lore.store.metadata``), written
by the model from the view's schema and worked examples. Its rows are the answer; a question
that also asks about content ("which PDFs mention invoices") searches that content among the
rows' documents. A statement the store refuses, or none, falls back to search."""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from lore.errors import QueryError
from lore.generate.prompt import question_language
from lore.generate.protocol import Message
from lore.query.common import answer, budget_step, searched, written_step
from lore.query.protocol import Event, Planning
from lore.query.sql_check import missing_conditions, named_conditions, retry_messages
from lore.store.metadata import SCHEMA, MetadataRows
from lore.types import Answer, Filter, Step, Timings

EXAMPLES: tuple[tuple[str, str], ...] = (
    ("How many PDF files are there?",
     "SQL: SELECT count(*) FROM documents WHERE format = 'pdf'\nSEARCH: none"),
    ("How many files are indexed?",
     "SQL: SELECT count(DISTINCT path) FROM documents\nSEARCH: none"),
    ("Which JavaScript files are there?",
     "SQL: SELECT name FROM documents WHERE format = 'javascript'\nSEARCH: none"),
    ("How many files were changed in 2023?",
     "SQL: SELECT count(DISTINCT path) FROM documents WHERE modified LIKE '2023%'\n"
     "SEARCH: none"),
    ("Which markdown files were modified after March 1, 2024?",
     "SQL: SELECT name FROM documents WHERE format = 'markdown' AND modified >= "
     "'2024-03-01'\nSEARCH: none"),
    ("When was notes.txt last changed?",
     "SQL: SELECT modified FROM documents WHERE name = 'notes.txt'\nSEARCH: none"),
    ("Which files are in the images folder?",
     "SQL: SELECT name FROM documents WHERE path LIKE '%/images/%'\nSEARCH: none"),
    ("What is the newest file?",
     "SQL: SELECT name, modified FROM documents ORDER BY modified DESC LIMIT 1\n"
     "SEARCH: none"),
    ("How many documents did I add this month?",
     "SQL: SELECT count(*) FROM documents WHERE indexed >= strftime('%Y-%m-01', 'now', "
     "'localtime')\nSEARCH: none"),
    ("有多少个 Python 文件？",
     "SQL: SELECT count(DISTINCT path) FROM documents WHERE format = 'python'\nSEARCH: none"),
    ("Which PDFs mention contracts?",
     "SQL: SELECT path FROM documents WHERE format = 'pdf'\nSEARCH: contracts"),
)
"""Worked examples (question, reply), invented, shown as earlier turns; the last mixes
metadata and content."""

SYSTEM = ("You write one SQLite SELECT statement over this view, which describes the files "
          "of a document collection:\n\n" + SCHEMA + "\n\nAnswer with a line 'SQL: ' and the "
          "statement, then a line 'SEARCH: ' with the words to look for inside the documents "
          "the statement selects, or 'none' when the question is only about the files. "
          "Today is {today}.")

NO_ROWS = {"en": "No document in the knowledge base matches.",
           "zh": "知识库中没有符合条件的文档。"}

_LINE = re.compile(r"^\s*(SQL|SEARCH)\s*[:：]\s*(.*)$", re.IGNORECASE)
_GLOB = re.compile(r"([*?\[])")


@dataclass(frozen=True, slots=True)
class Plan:
    """What the model wrote: the statement, and the content to search among its rows."""

    sql: str
    search: str = ""


def parse_plan(text: str) -> Plan | None:
    """The ``SQL:`` and ``SEARCH:`` lines of the model's reply; None without a statement."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and match.group(1).upper() not in found:
            found[match.group(1).upper()] = match.group(2).strip().strip("`")
    sql = found.get("SQL", "")
    search = found.get("SEARCH", "")
    if not sql:
        return None
    return Plan(sql, "" if search.lower() in ("", "none", "无") else search)


def sql_messages(question: str, today: datetime.date) -> list[Message]:
    turns = [Message("system", SYSTEM.format(today=today.isoformat()))]
    for asked, reply in EXAMPLES:
        turns += [Message("user", f"Question: {asked}"), Message("assistant", reply)]
    return [*turns, Message("user", f"Question: {question.strip()}")]


def render_rows(result: MetadataRows, language: str, show: Callable[[str], str] = str) -> str:
    """The rows as an answer: a single value alone, else one numbered line per row; paths
    as ``show`` shows them."""
    if not result.rows:
        return NO_ROWS[language]
    rows = [tuple(show(str(value)) if column == "path" and value else value
                  for column, value in zip(result.columns, row, strict=True))
            for row in result.rows]
    if len(rows) == 1 and len(result.columns) == 1:
        return str(rows[0][0])
    lines = [f"[{number}] " + ", ".join(f"{column}: {value}" for column, value
                                        in zip(result.columns, row, strict=True))
             for number, row in enumerate(rows, start=1)]
    if result.truncated:
        lines.append(f"(the first {len(result.rows)} rows; more match)")
    return "\n".join(lines)


def path_filter(result: MetadataRows) -> Filter | None:
    """The rows' documents as a search filter: their ``path`` column, globs escaped."""
    if "path" not in result.columns:
        return None
    at = result.columns.index("path")
    paths = {str(row[at]) for row in result.rows if row[at]}
    return Filter(paths=tuple(sorted(_GLOB.sub(r"[\1]", path) for path in paths)))


def formats(planning: Planning) -> list[str]:
    """The formats the collection holds (none when the store refuses to say)."""
    try:
        rows = planning.metadata("SELECT DISTINCT format FROM documents")
    except QueryError:
        return []
    return [str(row[0]) for row in rows.rows if row[0]]


def paths_of(statement: str) -> str:
    """A statement for the paths of the files ``statement`` names (its ``name`` column), so
    that content can be searched among them."""
    inner = statement.strip().rstrip(";")
    return f"SELECT DISTINCT path FROM documents WHERE name IN (SELECT name FROM ({inner}))"


class Sql:
    """The model writes the statement; the store runs it read-only."""

    name = "sql"

    def run(self, question: str, planning: Planning) -> Iterator[Event]:
        messages = sql_messages(question, datetime.date.today())
        written = planning.budget.write(messages, planning.settings.plan_tokens * 2)
        if written is None:
            yield budget_step(planning)
            yield from self._fallback(question, planning, "no model call left for SQL")
            return
        yield written_step("plan", written)
        plan = parse_plan(written.text)
        if plan is not None:
            plan = yield from self._checked(question, plan, messages, written.text, planning)
        if plan is None:
            yield from self._fallback(question, planning, "the model wrote no SQL")
            return
        started = time.perf_counter()
        try:
            result = planning.metadata(plan.sql)
        except QueryError as error:
            yield Step("sql", plan.sql, seconds=time.perf_counter() - started)
            yield from self._fallback(question, planning, str(error))
            return
        yield Step("sql", plan.sql, seconds=time.perf_counter() - started)
        yield Step("rows", render_rows(result, "en", planning.show))
        only = path_filter(result)
        if plan.search and only is None and "name" in result.columns:
            statement = paths_of(plan.sql)
            try:
                only = path_filter(planning.metadata(statement))
            except QueryError:
                only = None
            yield Step("sql", statement)
        if plan.search and only is not None:
            yield from self._within(question, plan.search, only, planning)
            return
        text = render_rows(result, question_language(question), planning.show)
        yield text
        total = time.perf_counter() - planning.started
        yield Answer(question, text, found=bool(result.rows),
                     model=planning.answerer.generator.name,
                     timings=Timings(retrieve=total, first_token=total, total=total))

    def _checked(self, question: str, plan: Plan, messages: list[Message], reply: str,
                 planning: Planning) -> Generator[Event, None, Plan]:
        """``plan``, or, when it leaves out a condition the question names, the plan the model
        writes once more if that leaves out fewer (``lore.query.sql_check``)."""
        held = formats(planning)
        missing = missing_conditions(question, plan.sql, held)
        if not missing:
            return plan
        named = [condition for condition, _ in named_conditions(question, held)]
        rewritten = planning.budget.write(retry_messages(messages, reply, missing, named),
                                          planning.settings.plan_tokens * 2)
        if rewritten is None:
            return plan
        yield written_step("plan", rewritten)
        again = parse_plan(rewritten.text)
        if again is None or len(missing_conditions(question, again.sql, held)) > len(missing):
            return plan
        return again

    def _within(self, question: str, content: str, only: Filter, planning: Planning
                ) -> Iterator[Event]:
        """Search ``content`` among the documents the statement selected (its first
        ``query.sql_rows``)."""
        if not only.paths:
            text = NO_ROWS[question_language(question)]
            yield text
            yield Answer(question, text, found=False, model=planning.answerer.generator.name)
            return
        hits, step = searched(planning, content, planning.k, where=only)
        yield step
        yield from answer(planning, question, planning.read(hits))

    def _fallback(self, question: str, planning: Planning, why: str) -> Iterator[Event]:
        yield Step("fallback", f"searching instead: {why}")
        hits, step = searched(planning, question, planning.k)
        yield step
        yield from answer(planning, question, planning.read(hits))
