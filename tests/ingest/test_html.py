from __future__ import annotations

from pathlib import Path

import pytest

from lore.errors import IngestError
from lore.ingest.html import parse_html
from lore.types import Document

PATH = Path("/site/page.html")

PAGE = """<!DOCTYPE html>
<html><head><title>Lore  Manual</title><style>p { color: red }</style>
<script>var tracking = "script text";</script></head>
<body>
<header><h1>Site banner</h1><nav><a href="/">Home</a> <a href="/about">About</a></nav></header>
<div role="navigation">Sidebar menu</div>
<main>
  <h1>Manual</h1>
  <p>Lore indexes <b>documents</b> and <a href="#">code</a>.<!-- a comment --> Really.</p>
  <form><input name="q"> Search box</form>
  <h2>Install</h2>
  <p>Run<br>pip install lore.</p>
  <ul><li>fast</li><li>local <em>and</em> offline</li></ul>
  <pre>  def f():
      return 1
</pre>
  <h3>Options</h3>
  <table><tr><th>name</th><th>default</th></tr><tr><td>k</td><td>10</td></tr></table>
  <h2>Quotes</h2>
  <blockquote><p>Search is</p><p>a conversation.</p></blockquote>
  <aside>Advertisement</aside>
  <noscript>Enable JS</noscript>
</main>
<footer role="contentinfo">Copyright</footer>
</body></html>"""


def parse(source: str | bytes) -> Document:
    data = source.encode() if isinstance(source, str) else source
    doc, = parse_html(PATH, data, 7.0)
    for block in doc.blocks:
        assert doc.text[block.start:block.end] == block.text
    return doc


def test_main_text_without_chrome() -> None:
    doc = parse(PAGE)
    assert doc.title == "Lore Manual"
    assert doc.format == "html"
    for junk in ("Site banner", "Home", "Sidebar", "Search box", "Advertisement", "Enable JS",
                 "Copyright", "script text", "color: red", "a comment"):
        assert junk not in doc.text
    assert [b.text for b in doc.blocks] == [
        "Manual",
        "Lore indexes documents and code. Really.",
        "Install",
        "Run pip install lore.",
        "fast",
        "local and offline",
        "  def f():\n      return 1",
        "Options",
        "name | default",
        "k | 10",
        "Quotes",
        "Search is a conversation.",
    ]


def test_text_is_the_blocks_joined_by_blank_lines() -> None:
    doc = parse(PAGE)
    assert doc.text == "\n\n".join(b.text for b in doc.blocks)


def test_headings_give_sections_and_parents() -> None:
    doc = parse(PAGE)
    row = next(b for b in doc.blocks if b.text == "k | 10")
    assert row.section == ("Manual", "Install", "Options")
    assert row.parent is not None
    assert doc.text[row.parent[0]:row.parent[1]] == "Options\n\nname | default\n\nk | 10"
    listed = next(b for b in doc.blocks if b.text == "fast")
    assert listed.parent is not None
    install = doc.text[listed.parent[0]:listed.parent[1]]
    assert install.startswith("Install") and install.endswith("k | 10")


def test_lone_article_is_preferred_and_its_header_kept() -> None:
    doc = parse("<html><body><div>Menu junk</div><article><header><h1>Post</h1></header>"
                "<p>Body text.</p></article><div>More junk</div></body></html>")
    assert doc.text == "Post\n\nBody text."
    assert doc.title == "Post"


def test_without_main_the_whole_body_is_read() -> None:
    doc = parse("<p>One</p><div>Two <span>three</span></div>")
    assert [b.text for b in doc.blocks] == ["One", "Two three"]
    assert doc.title == "page.html"


def test_declared_charset_is_honoured() -> None:
    data = '<html><head><meta charset="iso-8859-1"></head><p>café crème</p></html>'
    doc = parse(data.encode("latin-1"))
    assert doc.text == "café crème"


def test_xml_declaration_and_chinese() -> None:
    doc = parse('<?xml version="1.0" encoding="utf-8"?><html><body><h1>标题</h1>'
                "<p>这是中文段落。这是第二句。</p></body></html>")
    assert doc.title == "标题"
    assert doc.language == "zh"


def test_empty_file_gives_an_empty_document() -> None:
    doc = parse("  \n")
    assert doc.text == "" and doc.blocks == ()


def test_binary_is_refused() -> None:
    with pytest.raises(IngestError, match="binary"):
        parse(b"\x00\x00<html>")
