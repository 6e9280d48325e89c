from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from lore.errors import IngestError
from lore.ingest.pdf import parse_pdf, read_pdf

PATH = Path("/papers/paper.pdf")


def make_pdf(pages: list[str], title: str = "", owner: str = "", user: str | None = None) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    if owner:
        pdf.set_encryption(owner_password=owner, user_password=user)
    return bytes(pdf.output())


def test_pages_become_blocks_with_page_numbers() -> None:
    data = make_pdf(["Retrieval helps. It grounds answers.", "", "Third page text."],
                    title="A Paper")
    docs, warnings = read_pdf(PATH, data, 5.0)
    doc, = docs
    assert warnings == []
    assert (doc.title, doc.format, doc.language, doc.mtime) == ("A Paper", "pdf", "en", 5.0)
    for block in doc.blocks:
        assert doc.text[block.start:block.end] == block.text
    assert [(b.page, b.text) for b in doc.blocks] == [
        (1, "Retrieval helps. It grounds answers."), (3, "Third page text."),
    ]
    assert doc.text == "Retrieval helps. It grounds answers.\n\nThird page text."


def test_title_falls_back_to_file_name() -> None:
    doc, = parse_pdf(PATH, make_pdf(["Some text."]), 0.0)
    assert doc.title == "paper.pdf"


def test_encrypted_pdf_says_how_to_decrypt() -> None:
    data = make_pdf(["secret"], owner="owner", user="user")
    with pytest.raises(IngestError, match="encrypted PDF") as caught:
        parse_pdf(PATH, data, 0.0)
    assert "qpdf --decrypt" in caught.value.reason
    assert caught.value.path == str(PATH)


def test_pdf_with_only_an_owner_password_opens() -> None:
    doc, = parse_pdf(PATH, make_pdf(["Readable text."], owner="owner"), 0.0)
    assert doc.text == "Readable text."


@pytest.mark.parametrize("cut", [0, 9, 200, 0.5])
def test_truncated_pdf_is_reported_without_traceback(cut: float) -> None:
    data = make_pdf(["Some text here.", "More text."])
    end = int(len(data) * cut) if isinstance(cut, float) else cut
    with pytest.raises(IngestError, match="damaged or truncated PDF"):
        parse_pdf(PATH, data[:end], 0.0)


def test_garbage_is_reported() -> None:
    with pytest.raises(IngestError, match="damaged or truncated PDF"):
        parse_pdf(PATH, b"%PDF-1.7\n" + b"garbage " * 100, 0.0)


def test_pdf_without_text_is_refused() -> None:
    with pytest.raises(IngestError, match="no extractable text"):
        parse_pdf(PATH, make_pdf(["", ""]), 0.0)
