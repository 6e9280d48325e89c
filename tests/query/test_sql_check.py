"""The check of a model's SQL against what its question names (``lore.query.sql_check``)."""

from __future__ import annotations

import pytest

from lore.query.sql_check import missing_conditions, named_formats

FORMATS = ("pdf", "markdown", "html", "python", "go", "text", "jsonl")


@pytest.mark.parametrize(("question", "named"), [
    ("How many markdown files were modified in 2025?", ["markdown"]),
    ("How many PDFs did I add this month?", ["pdf"]),
    ("Which Go files are there?", ["go"]),
    ("Which .md notes mention the cache?", ["markdown"]),
    ("有多少个 Markdown 文件？", ["markdown"]),
    ("Which files go first?", []),
    ("Which Java files are there?", []),  # not a format this collection holds
    ("How many files are indexed?", []),
])
def test_formats_are_named_before_a_noun_for_files_or_as_a_plural(
        question: str, named: list[str]) -> None:
    assert named_formats(question, FORMATS) == named


def test_what_the_statement_leaves_out_is_listed_as_conditions() -> None:
    question = "How many markdown files in notes.md were modified in 2025?"
    assert missing_conditions(question, "SELECT count(*) FROM documents", FORMATS) == [
        "format = 'markdown'", "name = 'notes.md'", "the year 2025"]
    written = ("SELECT count(*) FROM documents WHERE format = 'markdown' "
               "AND name = 'notes.md' AND modified LIKE '2025%'")
    assert missing_conditions(question, written, FORMATS) == []
    assert missing_conditions("Which PDFs are there?", "SELECT name FROM documents "
                              "WHERE name LIKE '%.pdf'", FORMATS) == []


def test_a_file_name_counts_only_as_a_condition_on_the_name_column() -> None:
    question = "How many records does records.jsonl hold?"
    assert missing_conditions(question, "SELECT count(*) FROM documents WHERE indexed LIKE "
                              "'%records.jsonl%'", FORMATS) == ["name = 'records.jsonl'"]
    assert missing_conditions(question, "SELECT count(*) FROM documents WHERE name = "
                              "'records.jsonl'", FORMATS) == []
