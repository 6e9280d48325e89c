from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lore.errors import IngestError
from lore.ingest.code import parse_code
from lore.ingest.languages import LANGUAGE_BY_SUFFIX
from lore.ingest.parse import PARSERS, SUFFIXES, ParsedFile, detect_format, parse_file
from lore.testing.permissions import as_ordinary_user

LIMIT = 1_000_000


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(("name", "content", "format"), [
    ("notes.txt", "Plain text.", "text"),
    ("README.MD", "# Title\n\nBody.", "markdown"),
    ("page.htm", "<p>Hello.</p>", "html"),
    ("corpus.jsonl", '{"_id": "1", "text": "One."}', "jsonl"),
    ("records.json", '[{"id": "1", "text": "One."}]', "json"),
    ("Makefile", "all:\n\techo hi", "text"),
    ("data.unknownext", "still text", "text"),
])
def test_dispatch_by_suffix(tmp_path: Path, name: str, content: str, format: str) -> None:
    path = write(tmp_path / name, content)
    parsed = parse_file(path, LIMIT)
    assert isinstance(parsed, ParsedFile)
    assert parsed.warnings == []
    doc, = parsed.documents
    assert doc.format == format
    assert doc.path == str(path)
    assert doc.mtime == path.stat().st_mtime
    for block in doc.blocks:
        assert doc.text[block.start:block.end] == block.text


def test_code_suffixes_go_to_the_code_parser() -> None:
    for suffix, language in LANGUAGE_BY_SUFFIX.items():
        assert detect_format(Path(f"/src/x{suffix}")) == language
        assert PARSERS[SUFFIXES[suffix]] is parse_code
    assert PARSERS["markdown"] is not parse_code


def test_warnings_of_a_partly_bad_file_are_returned(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", '{"_id": "1", "text": "ok"}\nbroken\n')
    parsed = parse_file(path, LIMIT)
    assert [d.key for d in parsed.documents] == ["1"]
    assert parsed.warnings[0].startswith("line 2: invalid JSON")


def test_unknown_binary_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "image.bin", b"\x89PNG\x00\x00\x00")
    with pytest.raises(IngestError, match="binary") as caught:
        parse_file(path, LIMIT)
    assert caught.value.path == str(path)


def test_too_large_file_names_size_limit_and_setting(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", "x" * 2000)
    with pytest.raises(IngestError) as caught:
        parse_file(path, 1000)
    assert caught.value.reason == ("file is 2,000 bytes, over the limit of 1,000; "
                                   "raise ingest.max_file_bytes to index it")


def test_missing_file_and_folder_are_reported(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"cannot read: no such file or directory \(ENOENT\)"):
        parse_file(tmp_path / "gone.txt", LIMIT)
    with pytest.raises(IngestError, match="not a regular file"):
        parse_file(tmp_path, LIMIT)


UNREADABLE = """
import sys
from pathlib import Path
from lore.errors import IngestError
from lore.ingest.parse import parse_file
try:
    parse_file(Path(sys.argv[1]), 1_000_000)
except IngestError as error:
    print(error.reason)
"""


def test_unreadable_file_names_the_reason(tmp_path: Path) -> None:
    """In a child that file permissions bind, root's tests included."""
    path = write(tmp_path / "secret.txt", "hidden")
    path.chmod(0)
    try:
        done = subprocess.run([sys.executable, "-c", UNREADABLE, str(path)], text=True,
                              capture_output=True, timeout=120, preexec_fn=as_ordinary_user)
    finally:
        path.chmod(0o600)
    assert done.stdout.strip() == "cannot read: permission denied (EACCES)", done.stderr


def test_pdf_errors_surface_as_ingest_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.pdf", b"%PDF-1.4\nnot really")
    with pytest.raises(IngestError, match="damaged or truncated PDF"):
        parse_file(path, LIMIT)


def test_minified_code_is_refused_with_the_reason(tmp_path: Path) -> None:
    bundle = tmp_path / "app.min.js"
    bundle.write_text("var a=" + ";".join(f"a{i}=f(a{i - 1},{i})" for i in range(1, 90_000)))
    with pytest.raises(IngestError, match=r"minified or generated code \(a line of [\d,]+ "):
        parse_file(bundle, 50 << 20)


def test_long_lines_of_records_or_prose_are_not_minified_code(tmp_path: Path) -> None:
    records = tmp_path / "corpus.jsonl"
    records.write_text("\n".join(json.dumps({"_id": str(i), "text": "word " * 2000})
                                 for i in range(3)))
    assert len(parse_file(records, 50 << 20).documents) == 3
    script = tmp_path / "tool.py"
    script.write_text("x = 1\n" * 50 + "DATA = '" + "z" * 6000 + "'\n" + "y = 2\n" * 50)
    assert parse_file(script, 50 << 20).documents
