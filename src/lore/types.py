"""The typed values that flow between stages: Document, Block, Chunk, Hit and reports.

Every value is a frozen dataclass. Ids are derived from content, so the same input always
produces the same id, and every chunk keeps the character span it came from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ChunkKind = Literal["prose", "code"]
SearchMode = Literal["lexical", "dense", "hybrid"]
HitSource = str
"""A retriever's name (``lexical``, ``dense``, ...), ``hybrid`` when several were fused, or
``rerank`` once a reranker reordered the hits."""
"""What ordered a hit: a search mode, or a reranker (``lore.rerank``)."""


def content_id(*parts: object) -> str:
    """sha256 over the parts, joined by a separator no text contains; hex digest."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Symbol:
    """A code symbol found by program analysis (tree-sitter)."""

    name: str
    """Qualified name, e.g. ``Cache.invalidate``."""
    kind: str
    """``function``, ``method``, ``class``, ``struct``, ``interface``, ``module`` ..."""
    signature: str
    """The declaration line(s) up to the body, whitespace-normalised."""
    docstring: str = ""
    comments: str = ""
    """Comments inside or directly above the symbol, joined by newlines."""


@dataclass(frozen=True, slots=True)
class Block:
    """A structural unit a parser found in a document, before chunking.

    Prose blocks are paragraphs (or list items, table rows, PDF page paragraphs); the chunker
    packs them to a token budget. Code blocks are symbols; the chunker keeps one per chunk and
    splits long ones on statement boundaries.
    """

    text: str
    start: int
    """Character offset of the block in ``Document.text``."""
    end: int
    kind: ChunkKind = "prose"
    section: tuple[str, ...] = ()
    """Heading trail (Markdown/HTML) or enclosing scopes (code), outermost first."""
    parent: tuple[int, int] | None = None
    """Character span of the enclosing section or class, for widening a hit later."""
    page: int | None = None
    """1-based page number (PDF)."""
    symbol: Symbol | None = None
    statements: tuple[tuple[int, int], ...] = ()
    """Document-relative spans of the top-level statements of a code symbol's body: the
    places where a long symbol may be split."""

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"block span [{self.start}, {self.end}) is not a valid span")


@dataclass(frozen=True, slots=True)
class Document:
    """One logical document: a file, or one record of a JSONL corpus."""

    path: str
    """The source file, resolved to an absolute path."""
    text: str
    """The normalised text that every chunk's span points into."""
    key: str = ""
    """The record's id inside a multi-document file (the BEIR ``_id``); empty otherwise."""
    title: str = ""
    format: str = "text"
    """File type: ``text``, ``markdown``, ``html``, ``pdf``, ``jsonl``, or a code language."""
    language: str = ""
    """Programming language for code; detected natural language (``en``, ``zh``) for prose."""
    mtime: float = 0.0
    blocks: tuple[Block, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable identity: the same path and key always give the same id."""
        return content_id("doc", self.path, self.key)[:32]

    @property
    def content_hash(self) -> str:
        return content_id(self.title, self.text)

    @property
    def uri(self) -> str:
        return f"{self.path}#{self.key}" if self.key else self.path


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of one document, with provenance and the view that search reads."""

    doc_id: str
    text: str
    """The exact span ``Document.text[start:end]``."""
    start: int
    end: int
    view: str
    """What the embedder and BM25 see: title and section trail around the text, or for code a
    natural-language description (split name, signature, docstring, comments, path) plus code."""
    kind: ChunkKind = "prose"
    section: tuple[str, ...] = ()
    parent: tuple[int, int] | None = None
    lines: tuple[int, int] | None = None
    """1-based inclusive line span in the source (code and text files)."""
    page: int | None = None
    symbol: str = ""
    """Qualified symbol name for code chunks."""

    @property
    def id(self) -> str:
        """sha256 of (doc_id, start, end, text): the same input always gets the same id."""
        return content_id(self.doc_id, self.start, self.end, self.text)[:32]

    @property
    def view_hash(self) -> str:
        """Key of the embedding: equal views share one vector, wherever they occur."""
        return content_id("view", self.view)[:32]


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a chunk, where it came from, and how each retriever scored it."""

    chunk: Chunk
    score: float
    """The score that ordered the results (the fused score in hybrid mode, the reranker's
    score once reranked)."""
    source: HitSource
    path: str
    title: str = ""
    doc_key: str = ""
    scores: Mapping[str, float] = field(default_factory=dict)
    """Per-retriever raw scores, e.g. ``{"lexical": 12.3, "dense": 0.61}``."""
    ranks: Mapping[str, int] = field(default_factory=dict)
    """Per-retriever 1-based ranks; a retriever that missed the chunk is absent."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that could not be indexed, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class IndexReport:
    """What one ``index`` run did."""

    files_seen: int = 0
    files_unchanged: int = 0
    documents_added: int = 0
    documents_updated: int = 0
    documents_removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    """Views actually sent to the model (reused vectors are not counted)."""
    skipped: tuple[Skipped, ...] = ()
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    """Choices made during the run that lower quality, each with the command that fixes it
    (an embedder that cannot read the text, because the one that can is not installed)."""


@dataclass(frozen=True, slots=True)
class Passage:
    """A hit widened for reading: its parent section or a window of sentences around it; in
    an answer's sources, the part of that the prompt had room for."""

    hit: Hit
    text: str
    start: int
    end: int
    """Character span of ``text`` in the hit's document. Retrieval's passages contain the
    chunk; a source cut to fit a prompt (``prompt.excerpt_span``) may not."""


@dataclass(frozen=True, slots=True)
class Status:
    """A knowledge base at a glance."""

    path: str
    documents: int
    chunks: int
    vectors: int
    embedder: str
    dimension: int
    ann: str
    store_bytes: int
    index_bytes: int
    last_update: str
    schema_version: int
    store: str = ""
    """Where the documents live (``Store.location``): the folder's ``lore.db``, or a database
    URL with its password hidden."""
    embedder_reason: str = ""
    """Why this embedder: ``configured``, ``chosen``, or what ``auto`` saw in the text."""
    trained: tuple[str, ...] = ()
    """Specs of the models trained for this knowledge base (``trained:<name>``), oldest first."""
    tuning: str = "defaults"
    """The retrieval parameters it searches with: fitted ones (``lore train params``), or
    the defaults."""
    concept_bytes: int | None = None
    """Size of the saved concept index the graph retriever walks; None before the first
    index run saves it."""
    graph: dict[str, float | int] | None = None
    """The saved concept graph's nodes, edges, communities and build seconds
    (``lore.graph.model.Graph.facts``); None before the first index run saves it."""
    knowledge: dict[str, float | int | str] | None = None
    """The model-built knowledge graph's model, and what reading with it cost (calls,
    tokens, seconds); None when ``lore index --graph llm`` never ran."""


@dataclass(frozen=True, slots=True)
class Filter:
    """Metadata conditions a hit must meet; fields are ANDed, values within a field ORed."""

    paths: tuple[str, ...] = ()
    """Glob patterns over the document path; a relative pattern matches any path ending in it
    (``src/*.py`` matches ``/home/me/project/src/app.py``)."""
    formats: tuple[str, ...] = ()
    """File types: ``markdown``, ``pdf``, ``python`` ..."""
    languages: tuple[str, ...] = ()
    """Natural (``en``, ``zh``) or programming (``python``) language."""
    kinds: tuple[str, ...] = ()
    """``prose`` or ``code``."""
    modified_after: float | None = None
    """Unix time; documents modified at or after it."""
    modified_before: float | None = None

    def __bool__(self) -> bool:
        return bool(self.paths or self.formats or self.languages or self.kinds
                    or self.modified_after is not None or self.modified_before is not None)


AnswerMode = Literal["stuff", "rag-sequence", "rag-token"]
"""How sources reach the model: all in one prompt, or one prompt per source with the answer
marginalised over sources per sequence or per token (Lewis et al. 2020)."""


@dataclass(frozen=True, slots=True)
class Source:
    """A passage as the prompt numbered it: ``[number]`` in the answer points here."""

    number: int
    passage: Passage
    prior: float = 0.0
    """p(source | question): softmax of retrieval scores (the marginalising modes weigh
    sources by it)."""

    @property
    def label(self) -> str:
        """Where to find it: ``path:lines``, ``path#key``, ``path p. N`` or just the path."""
        chunk = self.passage.hit.chunk
        path = self.passage.hit.path
        if self.passage.hit.doc_key:
            path = f"{path}#{self.passage.hit.doc_key}"
        if chunk.page is not None:
            return f"{path} p. {chunk.page}"
        if chunk.lines is not None:
            return f"{path}:{chunk.lines[0]}-{chunk.lines[1]}"
        return path


@dataclass(frozen=True, slots=True)
class Citation:
    """One ``[n]`` in an answer that points at a source."""

    number: int
    start: int
    """Character span of the marker in ``Answer.text``."""
    end: int
    sentence: tuple[int, int]
    """Character span of the sentence that carries the marker."""
    support: float = 0.0
    """Share of the sentence's terms found in the cited source (0..1): a citation with low
    support points at a source that does not say what the sentence says."""
    inferred: bool = False
    """Added by lore, not written by the model: the sentence cited nothing and this source
    supports it (``start == end``: no marker in the text)."""
    written: int | None = None
    """The number the model wrote, when lore moved the citation to the source that supports
    its sentence (``lore.generate.citations.attribute``); the marker in the text still
    shows it, since the answer has already streamed."""


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds spent answering, from the moment the question arrived."""

    retrieve: float = 0.0
    first_token: float = 0.0
    """Until the first answer token (retrieval and prompt evaluation included)."""
    total: float = 0.0
    prompt_tokens: int = 0
    answer_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a query strategy did before or around the answer (``lore.query``): a query
    it wrote, a retrieval and what it found, a reasoning sentence, a check, a SQL statement."""

    kind: str
    """``route``, ``rewrite``, ``hyde``, ``step-back``, ``sub-question``, ``sub-answer``,
    ``retrieve``, ``reason``, ``check``, ``sql``, ``budget`` ..."""
    text: str
    """The query, sentence, statement or verdict."""
    hits: tuple[Hit, ...] = ()
    """What a retrieval step found, best first."""
    seconds: float = 0.0
    calls: int = 0
    """Model calls the step cost."""
    tokens: int = 0
    """Model tokens it cost: prompt and output."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A grounded answer: its text, the numbered sources it could cite, and the checks."""

    question: str
    text: str
    sources: tuple[Source, ...] = ()
    citations: tuple[Citation, ...] = ()
    """Markers that point at a source, in order of appearance."""
    invalid_citations: tuple[int, ...] = ()
    """Numbers the model cited that point at no source (dropped from ``citations``)."""
    uncited: tuple[tuple[int, int], ...] = ()
    """Spans of answer sentences that cite nothing."""
    found: bool = True
    """False when retrieval found nothing relevant enough and the model was not asked."""
    mode: AnswerMode = "stuff"
    model: str = ""
    timings: Timings = field(default_factory=Timings)
    prompt: str = ""
    """What the model read, as ``role: content`` turns (one prompt per source, separated by
    blank lines, in the marginalising modes); for traces."""
    strategy: str = "single"
    """The query strategy that produced it (``lore.query``)."""
    steps: tuple[Step, ...] = ()
    """What the strategy did before the answer, in order."""

    @property
    def model_calls(self) -> int:
        """Every model call the question cost: the strategy's and the answer's own."""
        if not self.timings.prompt_tokens:  # the model was not asked
            answering = 0
        else:
            answering = 1 if self.mode == "stuff" else len(self.sources)
        return sum(step.calls for step in self.steps) + answering

    @property
    def model_tokens(self) -> int:
        """Model tokens the question cost: the strategy's, then the answer's prompt and text."""
        return (sum(step.tokens for step in self.steps) + self.timings.prompt_tokens
                + self.timings.answer_tokens)

    @property
    def cited_sources(self) -> tuple[Source, ...]:
        numbers = dict.fromkeys(c.number for c in self.citations)
        by_number = {s.number: s for s in self.sources}
        return tuple(by_number[n] for n in numbers if n in by_number)
