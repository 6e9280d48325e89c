from __future__ import annotations

from pathlib import Path

from lore.ingest.markdown import parse_markdown
from lore.types import Document

PATH = Path("/docs/guide.md")

GUIDE = """\
Intro before any heading.

Guide
=====

Welcome text.

## Install ##

Use pip.

```python
# not a heading
def f():

    return 1
```

### Windows
Run the installer.

Linux Notes
-----------

Use apt.

## Usage

Call it.
"""


def parse(text: str) -> Document:
    doc, = parse_markdown(PATH, text.encode(), 3.0)
    for block in doc.blocks:
        assert doc.text[block.start:block.end] == block.text
    return doc


def test_heading_trail_and_title() -> None:
    doc = parse(GUIDE)
    assert doc.title == "Guide"
    assert doc.format == "markdown"
    trail = [(b.text.splitlines()[0], b.section) for b in doc.blocks]
    assert trail == [
        ("Intro before any heading.", ()),
        ("Guide", ("Guide",)),
        ("Welcome text.", ("Guide",)),
        ("## Install ##", ("Guide", "Install")),
        ("Use pip.", ("Guide", "Install")),
        ("```python", ("Guide", "Install")),
        ("### Windows", ("Guide", "Install", "Windows")),
        ("Run the installer.", ("Guide", "Install", "Windows")),
        ("Linux Notes", ("Guide", "Linux Notes")),
        ("Use apt.", ("Guide", "Linux Notes")),
        ("## Usage", ("Guide", "Usage")),
        ("Call it.", ("Guide", "Usage")),
    ]


def test_fenced_code_stays_whole() -> None:
    doc = parse(GUIDE)
    fence = next(b for b in doc.blocks if b.text.startswith("```"))
    assert fence.text == "```python\n# not a heading\ndef f():\n\n    return 1\n```"


def test_parent_is_the_enclosing_section() -> None:
    doc = parse(GUIDE)
    by_text = {b.text: b for b in doc.blocks}
    install = by_text["Use pip."].parent
    assert install is not None
    assert doc.text[install[0]:install[1]].startswith("## Install ##")
    assert doc.text[install[0]:install[1]].endswith("Run the installer.")
    windows = by_text["Run the installer."].parent
    assert windows is not None
    assert doc.text[windows[0]:windows[1]] == "### Windows\nRun the installer."
    assert by_text["Intro before any heading."].parent is None
    guide = by_text["Welcome text."].parent
    assert guide is not None and doc.text[guide[0]:guide[1]].endswith("Call it.")


def test_front_matter_title_wins_and_is_not_a_block() -> None:
    doc = parse('---\ntitle: "Real Title"\ntags: [a, b]\n---\n# Heading One\n\nBody.\n')
    assert doc.title == "Real Title"
    assert doc.blocks[0].text == "# Heading One"
    assert all("tags" not in b.text for b in doc.blocks)


def test_title_falls_back_to_file_name() -> None:
    doc = parse("## Only a level two\n\ntext\n")
    assert doc.title == "guide.md"


def test_headings_without_text_before_the_next_are_not_blocks() -> None:
    doc = parse("# A\n## B\n### C\ntext\n")
    assert [b.text for b in doc.blocks] == ["### C", "text"]
    assert doc.blocks[1].section == ("A", "B", "C")


def test_unclosed_fence_runs_to_the_end() -> None:
    doc = parse("Before.\n\n~~~\ncode\n# still code\n")
    assert [b.text for b in doc.blocks] == ["Before.", "~~~\ncode\n# still code"]


def test_heading_markup_is_cleaned() -> None:
    doc = parse("# The `lore` [CLI](http://x) **tool** #\n\ntext\n## C#\n\nsharp\n")
    assert doc.title == "The lore CLI tool"
    assert doc.blocks[-1].section == ("The lore CLI tool", "C#")


def test_thematic_break_and_hashtag_are_not_headings() -> None:
    doc = parse("Para one.\n\n---\n\n#hashtag text\n")
    assert [(b.text, b.section) for b in doc.blocks] == [
        ("Para one.", ()), ("#hashtag text", ()),
    ]


def test_chinese_markdown() -> None:
    doc = parse("# 安装指南\n\n使用 pip 安装。然后运行测试。\n")
    assert doc.title == "安装指南"
    assert doc.language == "zh"
    assert doc.blocks[-1].section == ("安装指南",)
