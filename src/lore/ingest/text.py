"""Plain text: one document per file, one block per paragraph (blank-line separated)."""

from __future__ import annotations

from pathlib import Path

from lore.ingest.normalize import decode_text
from lore.text.script import detect_language
from lore.text.sentences import paragraph_spans
from lore.types import Block, Document


def parse_text(path: Path, data: bytes, mtime: float) -> list[Document]:
    """Parse a plain-text file; the title is the file name.

    Raises:
        IngestError: the file is binary or not UTF-8/UTF-16.

    Example:
        >>> doc, = parse_text(Path("/notes/a.txt"), b"One.\\n\\nTwo.", 0.0)
        >>> [block.text for block in doc.blocks]
        ['One.', 'Two.']
    """
    text = decode_text(path, data)
    blocks = tuple(Block(text[a:b], a, b) for a, b in paragraph_spans(text))
    return [Document(
        path=str(path), text=text, title=path.name, format="text",
        language=detect_language(text), mtime=mtime, blocks=blocks,
    )]
