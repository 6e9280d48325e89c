from __future__ import annotations

import json
from pathlib import Path

import pytest

from lore.errors import IngestError
from lore.ingest.jsonl import (
    MAX_WARNINGS,
    parse_json,
    parse_jsonl,
    read_json,
    read_jsonl,
    stream_jsonl,
)
from lore.types import Document

PATH = Path("/corpus/corpus.jsonl")


def check_spans(docs: list[Document]) -> None:
    for doc in docs:
        for block in doc.blocks:
            assert doc.text[block.start:block.end] == block.text


def lines(*records: object) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


def test_beir_records() -> None:
    data = lines(
        {"_id": "4983", "title": "Cerebral  white\nmatter", "text": "First para.\n\nSecond.",
         "metadata": {"year": 2001, "venue": "Pediatrics"}},
        {"_id": "5836", "title": "", "text": "血糖控制与二甲双胍治疗的关系。"},
    )
    docs, warnings = read_jsonl(PATH, data, 9.0)
    check_spans(docs)
    assert warnings == []
    first, second = docs
    assert (first.key, first.title, first.format, first.mtime) == (
        "4983", "Cerebral white matter", "jsonl", 9.0)
    assert [b.text for b in first.blocks] == ["First para.", "Second."]
    assert first.meta == {"year": "2001", "venue": "Pediatrics"}
    assert first.uri == f"{PATH}#4983"
    assert second.language == "zh" and first.language == "en"
    assert first.id != second.id


def test_other_record_layouts() -> None:
    data = lines({"id": 7, "content": "from content"}, {"id": "b", "body": "from body"},
                 {"doc_id": "c", "contents": "from contents", "lang": "en"})
    docs = parse_jsonl(PATH, data, 0.0)
    assert [(d.key, d.text) for d in docs] == [
        ("7", "from content"), ("b", "from body"), ("c", "from contents"),
    ]
    assert docs[2].meta == {"lang": "en"}


def test_bad_lines_are_skipped_with_warnings_and_crlf_is_fine() -> None:
    data = (b'{"_id": "1", "text": "good one"}\r\n'
            b'{not json\r\n'
            b'\r\n'
            b'[1, 2]\r\n'
            b'{"_id": "4", "title": "no text"}\r\n'
            b'{"_id": "1", "text": "duplicate"}\r\n'
            b'{"_id": "6", "text": "good two"}\r\n')
    docs, warnings = read_jsonl(PATH, data, 0.0)
    assert [d.key for d in docs] == ["1", "6"]
    assert [w.split(":")[0] for w in warnings] == ["line 2", "line 4", "line 5", "line 6"]
    assert "invalid JSON" in warnings[0]
    assert "duplicate id '1'" in warnings[3]


def test_missing_id_uses_the_line_number_and_empty_text_uses_the_title() -> None:
    docs = parse_jsonl(PATH, lines({"text": "no id"}, {"text": " ", "title": "Only title"}), 0.0)
    assert [(d.key, d.text) for d in docs] == [("line 1", "no id"), ("line 2", "Only title")]


def test_records_without_an_id_never_take_an_id_another_record_carries() -> None:
    """A null or missing _id was named by its line number and collided with _id "2"."""
    data = lines({"_id": None, "text": "first"}, {"_id": "2", "text": "second"},
                 {"text": "third"}, {"_id": "line 3", "text": "fourth"})
    docs, warnings = read_jsonl(PATH, data, 0.0)
    assert [(d.key, d.text) for d in docs] == [("line 1", "first"), ("2", "second"),
                                               ("line 3#2", "third"), ("line 3", "fourth")]
    assert warnings == []


def test_many_bad_lines_are_summarised() -> None:
    data = b"\n".join([b"oops"] * (MAX_WARNINGS + 5) + [b'{"_id": "x", "text": "ok"}'])
    docs, warnings = read_jsonl(PATH, data, 0.0)
    assert len(docs) == 1
    assert len(warnings) == MAX_WARNINGS + 1
    assert warnings[-1] == "5 more bad records not listed"


def test_file_without_valid_records_is_an_error() -> None:
    with pytest.raises(IngestError, match="no valid records; first problem: line 1"):
        parse_jsonl(PATH, b"oops\n{}\n", 0.0)


def test_empty_file_has_no_documents() -> None:
    assert read_jsonl(PATH, b"\n\n", 0.0) == ([], [])


def test_json_list_and_single_record() -> None:
    path = Path("/corpus/docs.json")
    docs, warnings = read_json(path, json.dumps([{"id": "a", "text": "alpha"}, 3]).encode(), 0.0)
    assert [(d.key, d.text, d.format) for d in docs] == [("a", "alpha", "json")]
    assert warnings == ["item 2: expected a JSON object, found int; skipped"]
    single = parse_json(path, b'{"title": "T", "body": "just one"}', 0.0)
    assert [(d.key, d.title, d.text) for d in single] == [("item 1", "T", "just one")]


def test_json_that_is_not_records_is_one_pretty_document() -> None:
    path = Path("/etc/settings.json")
    doc, = parse_json(path, b'{"server": {"port": 8080, "hosts": ["a", "b"]}}', 0.0)
    assert doc.text == json.dumps({"server": {"port": 8080, "hosts": ["a", "b"]}}, indent=2)
    assert doc.title == "settings.json" and doc.key == ""
    check_spans([doc])


def test_invalid_json_file_names_line_and_column() -> None:
    with pytest.raises(IngestError, match="invalid JSON at line 2 column 1"):
        parse_json(Path("/x.json"), b'{"a": 1,\n}', 0.0)


def test_a_beir_sized_corpus_parses_every_record() -> None:
    sentence = "Diffusion tensor imaging measured white matter anisotropy in preterm infants. "
    records = [{"_id": str(i), "title": f"Study {i}", "text": sentence * 19} for i in range(5183)]
    docs = parse_jsonl(PATH, lines(*records), 0.0)
    assert [d.key for d in docs] == [str(i) for i in range(5183)]
    assert {d.format for d in docs} == {"jsonl"}


def test_a_record_holding_a_function_is_read_as_code() -> None:
    line = json.dumps({"_id": "code-1", "title": "", "text":
                       'def paste(xsel=False):\n    """Returns the clipboard."""\n    return 1\n'})
    [doc] = parse_jsonl(Path("/corpus.jsonl"), line.encode(), 0.0)
    assert (doc.format, doc.language, doc.title) == ("python", "python", "code-1")
    [block] = [b for b in doc.blocks if b.symbol]
    assert block.symbol is not None and block.symbol.docstring == "Returns the clipboard."


def test_a_language_field_names_the_code_language() -> None:
    line = json.dumps({"_id": "g", "language": "go", "text": "x := 1\nfmt.Println(x)\n"})
    [doc] = parse_jsonl(Path("/corpus.jsonl"), line.encode(), 0.0)
    assert doc.format == "go" and "language" not in doc.meta


def test_prose_that_mentions_definitions_stays_prose() -> None:
    line = json.dumps({"_id": "p", "text": "Define a class before you use it: def is a keyword."})
    [doc] = parse_jsonl(Path("/corpus.jsonl"), line.encode(), 0.0)
    assert doc.format == "jsonl"


MIXED = ('\ufeff{"_id": "1", "text": "good one"}\r\n{not json\n\n[1, 2]\n'
         '{"_id": "4", "title": "no text"}\n{"_id": "1", "text": "duplicate"}\n'
         '{"text": "no id, named after its line"}\n{"_id": "line 9", "text": "takes a line name"}\n'
         '{"text": "line 9\'s own"}\n'
         + "".join(f'{{"_id": "r{n}", "title": "T{n}", "text": "Record {n}.\\n\\nMore."}}\n'
                   for n in range(23)))


@pytest.mark.parametrize("batch", [1, 4, 1000])
def test_a_streamed_file_gives_what_reading_it_whole_gives(tmp_path: Path, batch: int) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(MIXED, encoding="utf-8")
    whole, whole_warnings = read_jsonl(path, path.read_bytes(), 3.0)
    warnings, batches = stream_jsonl(path, 3.0, batch)
    made = [list(b) for b in batches]
    assert all(len(b) == batch for b in made[:-1]) and 0 < len(made[-1]) <= batch
    assert [d for b in made for d in b] == whole
    assert warnings == whole_warnings and len(warnings) == 4
    assert [d.key for d in whole][:4] == ["1", "line 7", "line 9", "line 9#2"]


def test_a_streamed_file_names_a_bad_byte_as_reading_it_whole_does(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"_id": "1", "text": "ok"}\n{"_id": "2", "text": "caf\xe9"}\n')
    with pytest.raises(IngestError) as whole:
        read_jsonl(path, path.read_bytes(), 0.0)
    with pytest.raises(IngestError) as streamed:
        stream_jsonl(path, 0.0, 10)
    assert streamed.value.reason == whole.value.reason
    assert "offset 52" in streamed.value.reason


def test_a_file_without_a_valid_record_fails_before_any_document(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"title": "no text"}\n[1]\n')
    with pytest.raises(IngestError, match="no valid records; first problem: line 1: no text"):
        stream_jsonl(path, 0.0, 10)


def test_a_file_changed_between_the_passes_is_an_error(tmp_path: Path) -> None:
    def records(ids: range, text: str, prefix: str = "d") -> str:
        return "".join(json.dumps({"_id": f"{prefix}{n}", "text": f"{text} {n}"}) + "\n"
                       for n in ids)

    path = tmp_path / "moving.jsonl"
    path.write_text(records(range(2000), "first version"))  # past what a read buffers
    _, batches = stream_jsonl(path, 0.0, 1)
    assert [d.key for d in next(batches)] == ["d0"]
    path.write_text(records(range(1), "shorter"))
    with pytest.raises(IngestError, match="changed while being indexed"):
        list(batches)
    path.write_text(records(range(2000), "first version"))
    _, batches = stream_jsonl(path, 0.0, 1)
    next(batches)
    path.write_text(records(range(2000), "first version", prefix="e"))  # every line as long
    with pytest.raises(IngestError, match="changed while being indexed"):
        list(batches)
