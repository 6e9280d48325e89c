"""A small collection whose files' types, sizes and dates are known, and questions about it
with a hand-written reference statement each: the SQL route's test set, in two parts,
``QUESTIONS`` (which the prompt was revised on) and ``HELD_OUT`` (``benchmarks/sql_route.py``
measures the model on both; ``tests/query/test_metadata_set.py`` checks every reference
statement against the answer stated here).

Dates are fixed modification times (set with ``os.utime``), so the answers never change;
"this month" questions are about when lore indexed the files, which is always now.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

FILES: dict[str, tuple[str, str]] = {
    "reports/2025-q1-report.pdf": ("2025-03-31", "First quarter report. Revenue grew by "
                                   "eight percent. Twelve invoices are still unpaid."),
    "reports/2025-q2-report.pdf": ("2025-06-30", "Second quarter report. Every open invoice "
                                   "was paid by the end of June."),
    "reports/audit.pdf": ("2024-11-15", "Security audit. The firewall rules were reviewed "
                          "and two weak passwords were reset."),
    "notes/meeting-2025-01-10.md": ("2025-01-10", "# Kickoff meeting\n\nWe planned the "
                                    "cache rewrite and the new search page.\n"),
    "notes/meeting-2025-02-14.md": ("2025-02-14", "# Design review\n\nThe team reviewed the "
                                    "storage layout and the backup schedule.\n"),
    "notes/meeting-2025-05-20.md": ("2025-05-20", "# Finance sync\n\nLate invoices from two "
                                    "suppliers need a reminder this week.\n"),
    "notes/ideas.md": ("2024-12-01", "# Ideas\n\nA dark theme, keyboard shortcuts and an "
                       "export to spreadsheets.\n"),
    "notes/中文笔记.md": ("2025-04-01",
                      "# 缓存笔记\n\n缓存条目每分钟清理一次，过期的条目会被删除。\n"),
    "docs/install.html": ("2025-02-01", "<html><head><title>Installing the tool</title></head>"
                          "<body><p>Run the installer, then restart the shell.</p></body>"
                          "</html>"),
    "docs/faq.html": ("2025-03-15", "<html><head><title>Frequent questions</title></head>"
                      "<body><p>Passwords can be reset from the account page.</p></body>"
                      "</html>"),
    "src/billing.py": ("2025-05-05", "def send_invoice(customer, amount):\n    \"\"\"Email "
                       "an invoice for amount to customer.\"\"\"\n    return amount\n"),
    "src/cache.py": ("2025-05-06", "def sweep(cache):\n    \"\"\"Remove expired entries "
                     "from the cache.\"\"\"\n    return len(cache)\n"),
    "src/server.go": ("2025-04-20", "package main\n\n// serve starts the web server.\nfunc "
                      "serve() {}\n"),
    "src/lib.rs": ("2024-10-10", "/// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 "
                   "{\n    a + b\n}\n"),
    "data/records.jsonl": ("2025-01-20", '{"_id": "r1", "title": "Alpha", "text": "First '
                           'record."}\n{"_id": "r2", "title": "Beta", "text": "Second '
                           'record."}\n{"_id": "r3", "title": "Gamma", "text": "Third '
                           'record."}\n'),
    "readme.txt": ("2025-06-01", "This folder holds the team's reports, notes and code.\n"),
}
"""Relative path -> (modification date, content); a ``.pdf`` content is written as a
one-page PDF."""


@dataclass(frozen=True)
class MetadataQuestion:
    """A question about the collection, a statement that answers it, and the answer."""

    question: str
    sql: str
    """The reference statement over the ``documents`` view."""
    expect: object = None
    """A number or text (one value), or a set of file names; None where it depends on the
    bytes of generated files (sizes), and the reference statement's answer is the truth."""
    content: str = ""
    """For a question that mixes metadata and content: what to look for inside the files."""
    mentions: frozenset[str] = field(default_factory=frozenset)
    """For such a question: the files whose content answers it."""


def _names(*names: str) -> frozenset[str]:
    return frozenset(names)


QUESTIONS: tuple[MetadataQuestion, ...] = (
    MetadataQuestion("How many PDF files are there?",
                     "SELECT count(*) FROM documents WHERE format = 'pdf'", 3),
    MetadataQuestion("How many files are indexed?",
                     "SELECT count(DISTINCT path) FROM documents", 16),
    MetadataQuestion("How many documents are in the knowledge base?",
                     "SELECT count(*) FROM documents", 18),
    MetadataQuestion("How many markdown files are there?",
                     "SELECT count(*) FROM documents WHERE format = 'markdown'", 5),
    MetadataQuestion("How many Python files are there?",
                     "SELECT count(*) FROM documents WHERE format = 'python'", 2),
    MetadataQuestion("How many Go files are there?",
                     "SELECT count(*) FROM documents WHERE format = 'go'", 1),
    MetadataQuestion("How many HTML pages are there?",
                     "SELECT count(*) FROM documents WHERE format = 'html'", 2),
    MetadataQuestion("How many files were modified in 2024?",
                     "SELECT count(DISTINCT path) FROM documents WHERE modified LIKE '2024%'", 3),
    MetadataQuestion("How many files were modified on or after June 1, 2025?",
                     "SELECT count(DISTINCT path) FROM documents "
                     "WHERE modified >= '2025-06-01'", 2),
    MetadataQuestion("How many records does records.jsonl hold?",
                     "SELECT count(*) FROM documents WHERE name = 'records.jsonl'", 3),
    MetadataQuestion("How many Chinese documents are there?",
                     "SELECT count(*) FROM documents WHERE language = 'zh'", 1),
    MetadataQuestion("How many markdown files were modified in 2025?",
                     "SELECT count(*) FROM documents WHERE format = 'markdown' "
                     "AND modified LIKE '2025%'", 4),
    MetadataQuestion("How many files did I add this month?",
                     "SELECT count(DISTINCT path) FROM documents "
                     "WHERE indexed >= strftime('%Y-%m-01', 'now', 'localtime')", 16),
    MetadataQuestion("How many PDFs did I add this month?",
                     "SELECT count(*) FROM documents WHERE format = 'pdf' "
                     "AND indexed >= strftime('%Y-%m-01', 'now', 'localtime')", 3),
    MetadataQuestion("Which PDF files are there?",
                     "SELECT name FROM documents WHERE format = 'pdf'",
                     _names("2025-q1-report.pdf", "2025-q2-report.pdf", "audit.pdf")),
    MetadataQuestion("Which files were modified in March 2025?",
                     "SELECT DISTINCT name FROM documents WHERE modified LIKE '2025-03%'",
                     _names("2025-q1-report.pdf", "faq.html")),
    MetadataQuestion("Which markdown files were modified before February 2025?",
                     "SELECT name FROM documents WHERE format = 'markdown' "
                     "AND modified < '2025-02-01'",
                     _names("meeting-2025-01-10.md", "ideas.md")),
    MetadataQuestion("List the HTML files.",
                     "SELECT name FROM documents WHERE format = 'html'",
                     _names("install.html", "faq.html")),
    MetadataQuestion("Which files are in the src folder?",
                     "SELECT name FROM documents WHERE path LIKE '%/src/%'",
                     _names("billing.py", "cache.py", "server.go", "lib.rs")),
    MetadataQuestion("Which files are in the notes folder?",
                     "SELECT name FROM documents WHERE path LIKE '%/notes/%'",
                     _names("meeting-2025-01-10.md", "meeting-2025-02-14.md",
                            "meeting-2025-05-20.md", "ideas.md", "中文笔记.md")),
    MetadataQuestion("What is the largest file?",
                     "SELECT name FROM documents ORDER BY bytes DESC LIMIT 1"),
    MetadataQuestion("What is the smallest file?",
                     "SELECT name FROM documents ORDER BY bytes ASC LIMIT 1"),
    MetadataQuestion("Which file was modified most recently?",
                     "SELECT name FROM documents ORDER BY modified DESC LIMIT 1",
                     _names("2025-q2-report.pdf")),
    MetadataQuestion("Which file is the oldest?",
                     "SELECT name FROM documents ORDER BY modified ASC LIMIT 1",
                     _names("lib.rs")),
    MetadataQuestion("When was audit.pdf last modified?",
                     "SELECT date(modified) FROM documents WHERE name = 'audit.pdf'",
                     "2024-11-15"),
    MetadataQuestion("What is the title of faq.html?",
                     "SELECT title FROM documents WHERE name = 'faq.html'",
                     "Frequent questions"),
    MetadataQuestion("Which language is server.go written in?",
                     "SELECT language FROM documents WHERE name = 'server.go'", "go"),
    MetadataQuestion("What format is ideas.md?",
                     "SELECT format FROM documents WHERE name = 'ideas.md'", "markdown"),
    MetadataQuestion("Which files have 'meeting' in their name?",
                     "SELECT name FROM documents WHERE name LIKE '%meeting%'",
                     _names("meeting-2025-01-10.md", "meeting-2025-02-14.md",
                            "meeting-2025-05-20.md")),
    MetadataQuestion("How many chunks does billing.py have?",
                     "SELECT chunks FROM documents WHERE name = 'billing.py'"),
    MetadataQuestion("How many files are larger than 1000 bytes?",
                     "SELECT count(DISTINCT path) FROM documents WHERE bytes > 1000"),
    MetadataQuestion("What is the total size of all PDF files in bytes?",
                     "SELECT sum(bytes) FROM documents WHERE format = 'pdf'"),
    MetadataQuestion("Which Rust files are there?",
                     "SELECT name FROM documents WHERE format = 'rust'", _names("lib.rs")),
    MetadataQuestion("Which files were modified between January 1 and February 28, 2025?",
                     "SELECT DISTINCT name FROM documents WHERE modified >= '2025-01-01' "
                     "AND modified < '2025-03-01'",
                     _names("meeting-2025-01-10.md", "meeting-2025-02-14.md", "install.html",
                            "records.jsonl")),
    MetadataQuestion("Which code files were modified in 2024?",
                     "SELECT name FROM documents WHERE format IN ('python', 'go', 'rust') "
                     "AND modified LIKE '2024%'", _names("lib.rs")),
    MetadataQuestion("有多少个 PDF 文件？",
                     "SELECT count(*) FROM documents WHERE format = 'pdf'", 3),
    MetadataQuestion("有多少个 Markdown 文件？",
                     "SELECT count(*) FROM documents WHERE format = 'markdown'", 5),
    MetadataQuestion("哪些文件是 2024 年修改的？",
                     "SELECT DISTINCT name FROM documents WHERE modified LIKE '2024%'",
                     _names("audit.pdf", "ideas.md", "lib.rs")),
    MetadataQuestion("最大的文件是哪个？",
                     "SELECT name FROM documents ORDER BY bytes DESC LIMIT 1"),
    MetadataQuestion("src 文件夹里有哪些文件？",
                     "SELECT name FROM documents WHERE path LIKE '%/src/%'",
                     _names("billing.py", "cache.py", "server.go", "lib.rs")),
    MetadataQuestion("Which PDFs mention invoices?",
                     "SELECT path FROM documents WHERE format = 'pdf'", content="invoices",
                     mentions=_names("2025-q1-report.pdf", "2025-q2-report.pdf")),
    MetadataQuestion("Which markdown notes mention invoices?",
                     "SELECT path FROM documents WHERE format = 'markdown'",
                     content="invoices", mentions=_names("meeting-2025-05-20.md")),
    MetadataQuestion("Which Python files deal with invoices?",
                     "SELECT path FROM documents WHERE format = 'python'", content="invoice",
                     mentions=_names("billing.py")),
    MetadataQuestion("Which files modified in 2024 mention passwords?",
                     "SELECT path FROM documents WHERE modified LIKE '2024%'",
                     content="passwords", mentions=_names("audit.pdf")),
    MetadataQuestion("哪些 Markdown 文件提到了缓存？",
                     "SELECT path FROM documents WHERE format = 'markdown'", content="缓存",
                     mentions=_names("中文笔记.md")),
)


HELD_OUT: tuple[MetadataQuestion, ...] = (
    MetadataQuestion("How many text files are there?",
                     "SELECT count(*) FROM documents WHERE format = 'text'", 1),
    MetadataQuestion("How many Rust files are there?",
                     "SELECT count(*) FROM documents WHERE format = 'rust'", 1),
    MetadataQuestion("How many files are in the reports folder?",
                     "SELECT count(DISTINCT path) FROM documents WHERE path LIKE '%/reports/%'",
                     3),
    MetadataQuestion("How many files were modified in May 2025?",
                     "SELECT count(DISTINCT path) FROM documents WHERE modified LIKE '2025-05%'",
                     3),
    MetadataQuestion("How many files were modified before 2025?",
                     "SELECT count(DISTINCT path) FROM documents WHERE modified < '2025-01-01'",
                     3),
    MetadataQuestion("How many HTML files were modified in 2025?",
                     "SELECT count(*) FROM documents WHERE format = 'html' "
                     "AND modified LIKE '2025%'", 2),
    MetadataQuestion("How many JSONL records are there?",
                     "SELECT count(*) FROM documents WHERE format = 'jsonl'", 3),
    MetadataQuestion("Which files were modified in April 2025?",
                     "SELECT DISTINCT name FROM documents WHERE modified LIKE '2025-04%'",
                     _names("中文笔记.md", "server.go")),
    MetadataQuestion("Which Go files are there?",
                     "SELECT name FROM documents WHERE format = 'go'", _names("server.go")),
    MetadataQuestion("Which files are in the docs folder?",
                     "SELECT name FROM documents WHERE path LIKE '%/docs/%'",
                     _names("install.html", "faq.html")),
    MetadataQuestion("Which PDF files were modified in 2025?",
                     "SELECT name FROM documents WHERE format = 'pdf' AND modified LIKE '2025%'",
                     _names("2025-q1-report.pdf", "2025-q2-report.pdf")),
    MetadataQuestion("Which files have 'report' in their name?",
                     "SELECT name FROM documents WHERE name LIKE '%report%'",
                     _names("2025-q1-report.pdf", "2025-q2-report.pdf")),
    MetadataQuestion("Which documents are written in Chinese?",
                     "SELECT name FROM documents WHERE language = 'zh'", _names("中文笔记.md")),
    MetadataQuestion("Which file was the first to be modified in 2025?",
                     "SELECT name FROM documents WHERE modified LIKE '2025%' "
                     "ORDER BY modified ASC LIMIT 1", _names("meeting-2025-01-10.md")),
    MetadataQuestion("When was readme.txt last modified?",
                     "SELECT date(modified) FROM documents WHERE name = 'readme.txt'",
                     "2025-06-01"),
    MetadataQuestion("What is the title of install.html?",
                     "SELECT title FROM documents WHERE name = 'install.html'",
                     "Installing the tool"),
    MetadataQuestion("What format is records.jsonl?",
                     "SELECT DISTINCT format FROM documents WHERE name = 'records.jsonl'",
                     "jsonl"),
    MetadataQuestion("Which language is lib.rs written in?",
                     "SELECT language FROM documents WHERE name = 'lib.rs'", "rust"),
    MetadataQuestion("What is the total size of the markdown files in bytes?",
                     "SELECT sum(bytes) FROM documents WHERE format = 'markdown'"),
    MetadataQuestion("How many files are smaller than 500 bytes?",
                     "SELECT count(DISTINCT path) FROM documents WHERE bytes < 500"),
    MetadataQuestion("有多少个 HTML 文件？",
                     "SELECT count(*) FROM documents WHERE format = 'html'", 2),
    MetadataQuestion("notes 文件夹里有多少个文件？",
                     "SELECT count(DISTINCT path) FROM documents WHERE path LIKE '%/notes/%'",
                     5),
    MetadataQuestion("哪些文件是 2025 年 5 月修改的？",
                     "SELECT DISTINCT name FROM documents WHERE modified LIKE '2025-05%'",
                     _names("meeting-2025-05-20.md", "billing.py", "cache.py")),
    MetadataQuestion("哪个文件最小？",
                     "SELECT name FROM documents ORDER BY bytes ASC LIMIT 1"),
    MetadataQuestion("Which HTML pages mention passwords?",
                     "SELECT path FROM documents WHERE format = 'html'", content="passwords",
                     mentions=_names("faq.html")),
    MetadataQuestion("Which PDF reports mention the firewall?",
                     "SELECT path FROM documents WHERE format = 'pdf'", content="firewall",
                     mentions=_names("audit.pdf")),
    MetadataQuestion("Which files modified in 2025 mention the backup schedule?",
                     "SELECT path FROM documents WHERE modified LIKE '2025%'",
                     content="backup schedule", mentions=_names("meeting-2025-02-14.md")),
)
"""Questions written after the prompt's examples were revised on ``QUESTIONS``, and kept
out of any later revision: the held-out part of the set."""

def build_collection(folder: Path) -> Path:
    """Write ``FILES`` under ``folder`` with their modification times; returns ``folder``."""
    for relative, (day, content) in FILES.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".pdf":
            path.write_bytes(_pdf(content))
        else:
            path.write_text(content, encoding="utf-8")
        stamp = datetime.datetime.fromisoformat(f"{day}T12:00:00").timestamp()
        os.utime(path, (stamp, stamp))
    return folder


def _pdf(text: str) -> bytes:
    from fpdf import FPDF  # a test dependency: only the test set writes PDFs

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())
