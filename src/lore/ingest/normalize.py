"""Bytes to clean text: what every text-based parser starts from.

``decode_text`` turns a file's bytes into normalised text (UTF-8 with or without a byte-order
mark, UTF-16 with one), refusing binary files and other encodings with a message that says how
to convert them. The analysis of that text (language, sentences, paragraphs) is in
``lore.text``.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import Path

from lore.errors import IngestError

SNIFF_BYTES = 8192
"""NUL bytes within this many leading bytes mark a file as binary (what git does)."""

_NEWLINES = re.compile(r"\r\n?")
_TRAILING_SPACE = re.compile(r"[^\S\n]+$", re.MULTILINE)


def decode_bytes(path: Path, data: bytes) -> str:
    """Decode a text file's bytes, without normalising.

    Raises:
        IngestError: the file is binary, or not UTF-8/UTF-16 (the message says how to convert).
    """
    if data.startswith(codecs.BOM_UTF8):
        return _decode(path, data[len(codecs.BOM_UTF8):], "utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(path, data, "utf-16")
    if b"\x00" in data[:SNIFF_BYTES]:
        encoding = _utf16_without_bom(data[:SNIFF_BYTES])
        if encoding is None:
            raise IngestError(str(path), "binary file (NUL bytes near the start); not indexed")
        return _decode(path, data, encoding)
    return _decode(path, data, "utf-8")


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` or ``-be`` when NUL bytes sit at every other offset, as in text mostly
    of ASCII or Latin letters written in UTF-16 without its byte-order mark; else ``None``
    (binary). Text mostly of CJK characters has few NULs and reads as binary here."""
    pairs = len(head) // 2
    if pairs < 8:
        return None
    for encoding, zero_at in (("utf-16-le", 1), ("utf-16-be", 0)):
        zeros = head[zero_at::2][:pairs].count(0)
        if zeros >= 0.9 * pairs and head[1 - zero_at::2][:pairs].count(0) == 0:
            return encoding
    return None


def _decode(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise IngestError(
            str(path),
            f"not valid {encoding.upper()} (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert it to UTF-8 first, for example `iconv -f latin1 -t utf-8 in.txt > out.txt`",
        ) from None


def normalize_text(text: str) -> str:
    """LF line endings, Unicode NFC, no trailing spaces on lines or at the end.

    Leading blank lines and indentation are kept, so line numbers still match the source.
    """
    text = _NEWLINES.sub("\n", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return _TRAILING_SPACE.sub("", text).rstrip()


def decode_text(path: Path, data: bytes) -> str:
    """``decode_bytes`` then ``normalize_text``: what every text-based parser starts from."""
    return normalize_text(decode_bytes(path, data))
