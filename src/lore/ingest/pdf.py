"""PDF: the text layer of each page (pypdf), one block per paragraph, each with its page.

``Document.text`` is the pages' text joined by blank lines. Encrypted, corrupt and image-only
PDFs are refused with an ``IngestError`` that says what to do; no pypdf traceback escapes.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, PyPdfError

from lore.errors import IngestError
from lore.ingest.normalize import normalize_text
from lore.text.script import detect_language
from lore.text.sentences import paragraph_spans
from lore.types import Block, Document

_SEPARATOR = "\n\n"
_PDF_FAILURES = (
    PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError,
    OSError, RecursionError, zlib.error, struct.error,
)
"""What pypdf raises on damaged input: its own errors, and the builtins its parsing code lets
through when an object is missing or malformed."""
_ENCRYPTED = "encrypted PDF; decrypt it first (for example `qpdf --decrypt in.pdf out.pdf`)"


def parse_pdf(path: Path, data: bytes, mtime: float) -> list[Document]:
    """Parse a PDF into one document; see ``read_pdf`` for the pages that were skipped."""
    return read_pdf(path, data, mtime)[0]


def read_pdf(path: Path, data: bytes, mtime: float) -> tuple[list[Document], list[str]]:
    """Parse a PDF; also return a warning for each page whose text could not be extracted.

    Raises:
        IngestError: the PDF is encrypted, damaged, or has no extractable text.

    Example:
        >>> data = Path("a.pdf").read_bytes()  # doctest: +SKIP
        >>> docs, warnings = read_pdf(Path("/abs/a.pdf"), data, 0.0)  # doctest: +SKIP
        >>> docs[0].blocks[0].page  # doctest: +SKIP
        1
    """
    reader = _open(path, data)
    pages, warnings = _page_texts(path, reader)
    text, blocks = _join(pages)
    if not blocks:
        raise IngestError(str(path), "no extractable text (scanned images?); run OCR first, "
                          "for example `ocrmypdf in.pdf out.pdf`")
    document = Document(
        path=str(path), text=text, title=_title(reader) or path.name, format="pdf",
        language=detect_language(text), mtime=mtime, blocks=tuple(blocks),
    )
    return [document], warnings


def _open(path: Path, data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise IngestError(str(path), _ENCRYPTED)
        len(reader.pages)  # reads the page tree now, so damage shows here
    except DependencyError:
        raise IngestError(str(path), f"{_ENCRYPTED}, or `pip install cryptography` to read "
                          "AES-encrypted files") from None
    except _PDF_FAILURES as exc:
        raise IngestError(str(path), f"damaged or truncated PDF ({_reason(exc)})") from None
    return reader


def _page_texts(path: Path, reader: PdfReader) -> tuple[list[str], list[str]]:
    texts, warnings = [], []
    for number, page in enumerate(reader.pages, start=1):
        try:
            texts.append(normalize_text(page.extract_text()))
        except _PDF_FAILURES as exc:
            texts.append("")
            warnings.append(f"page {number}: text could not be extracted ({_reason(exc)}); "
                            "the other pages are indexed")
    return texts, warnings


def _join(pages: list[str]) -> tuple[str, list[Block]]:
    """The pages' text joined by blank lines, and a block per paragraph with its page."""
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0
    for number, page_text in enumerate(pages, start=1):
        if not page_text.strip():
            continue
        if parts:
            parts.append(_SEPARATOR)
            offset += len(_SEPARATOR)
        parts.append(page_text)
        blocks.extend(Block(page_text[a:b], offset + a, offset + b, page=number)
                      for a, b in paragraph_spans(page_text))
        offset += len(page_text)
    return "".join(parts), blocks


def _title(reader: PdfReader) -> str:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except _PDF_FAILURES:
        return ""
    return " ".join(str(title).split()) if title else ""


def _reason(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0][:120]}" if message else type(exc).__name__
