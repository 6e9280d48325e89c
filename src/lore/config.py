"""Typed, frozen configuration. Every default lives here, in one place.

The environment is read through an injected mapping (``LoreConfig.from_env(os.environ)``), each
value is cast, and a bad value names its key. The library never writes the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Literal, TypeVar, get_args

from lore.errors import ConfigError

Fusion = Literal["adaptive", "weighted", "rrf"]
"""``adaptive``: z-score fusion weighted by the query's signals (its script against the
embedder's languages, the share of code among candidates: ``lore.retrieve.fuse``);
``weighted``: ``lexical_weight`` times min-max normalised lexical scores plus the rest times
dense; ``rrf``: reciprocal rank fusion (Cormack et al. 2009). ``benchmarks/fusion.py`` compares
them on the five shared sets."""
CodeView = Literal["both", "description", "code"]
"""What search reads of a code chunk: its natural-language description, its code, or both."""
AnnChoice = Literal["auto", "exact", "hnsw", "ivfpq", "lsh", "pgvector"]
"""Which vector index: ``exact`` scans every vector; ``hnsw`` walks a graph (float32 vectors
plus links); ``ivfpq`` scans product-quantised codes (~16x smaller) and re-scores its shortlist
exactly from the store; ``lsh`` ranks random-hyperplane bits by Hamming distance, re-scored the
same way. ``auto`` picks exact below ``hnsw_threshold`` vectors, HNSW up to
``ivfpq_threshold`` and IVF-PQ from there (where HNSW's memory no longer fits); LSH only when
named. ``pgvector`` searches pgvector's HNSW graph inside a PostgreSQL store; with such a
store, ``auto`` chooses it wherever it would choose HNSW or IVF-PQ."""
Dtype = Literal["auto", "bfloat16", "float32"]
"""``auto`` uses bfloat16 where the CPU has native bf16 instructions (avx512_bf16 / amx)."""

DEFAULT_KB_DIR = Path(".lore")
MAX_QUERY_CHARS = 8_000
MAX_K = 1_000


@dataclass(frozen=True)
class IngestConfig:
    chunk_tokens: int = 256
    """Token budget of a prose chunk, counted by the embedder's tokenizer (MiniLM reads 256)."""
    overlap_tokens: int = 32
    """Tokens repeated between consecutive prose chunks of one section."""
    max_file_bytes: int = 50 * 1024 * 1024
    """Files above this size are skipped and reported."""
    include: tuple[str, ...] = ()
    """Glob patterns; when given, only matching files are indexed."""
    exclude: tuple[str, ...] = ()
    hidden: bool = False
    """Index hidden files and folders (names starting with a dot)."""
    respect_gitignore: bool = True
    follow_outside_links: bool = False
    """Index files that symlinks point to outside the folders being indexed (each reported as
    a warning). Off: a cloned repository could otherwise pull ``~/.ssh`` into a knowledge
    base that is then served."""
    code_view: CodeView = "both"
    """What search reads of a code chunk: a natural-language description built by program
    analysis (split name, signature, docstring, comments, path), the code, or both."""


@dataclass(frozen=True)
class EmbedConfig:
    model: str = "auto"
    """``auto`` (English MiniLM, or multilingual-e5-small when the text is largely in other
    scripts: ``lore.embed.choose``), a registered embedder (``minilm``, ``e5-small``), a local
    model directory or a hub id."""
    batch_size: int = 32
    dtype: Dtype = "auto"


@dataclass(frozen=True)
class RetrieveConfig:
    k: int = 10
    mode: Literal["lexical", "dense", "hybrid"] = "hybrid"
    fusion: Fusion = "adaptive"
    lexical_weight: float = 0.5
    """Weight of the lexical side in weighted fusion; the dense side gets the rest."""
    rrf_k: int = 60
    graph_weight: float | None = None
    """The graph retriever's share of the weights when it is fused with others (adaptive and
    weighted fusion); the others share the rest as they would alone. None: an equal share."""
    graph_anchor: int = 3
    """The first hits of the other retrievers, fused without the graph, that keep their
    places when the graph is fused with them (``lore.retrieve.fuse.anchored``); 0 lets the
    graph reorder them too."""
    candidates: int = 100
    """How many hits each retriever contributes to fusion."""
    diversity: float = 0.0
    """Maximal marginal relevance (0..1): 0 keeps the ranking; higher values push down chunks
    that resemble better-ranked ones, so one document does not fill the top k."""
    widen: Literal["none", "parent", "window"] = "parent"
    """How ``KnowledgeBase.passages`` widens a hit: its parent section (sentence window when
    there is none or it is long), a sentence window, or not at all."""
    window_sentences: int = 2
    """Sentences added on each side by a sentence window."""
    reranker: str = ""
    """Rerank the first ``rerank_depth`` hits: ``cross-encoder:<dir or hub id>`` or
    ``llm:<gguf model>`` (``lore.rerank``); empty for none. Off by default: the small local LLM
    judges lowered SciFact quality and cost seconds a query on a CPU (``benchmarks/rerank.py``;
    docs/reranking.md)."""
    rerank_depth: int = 20


ConceptTiming = Literal["index", "first-use"]
"""When the concept index is derived: see ``IndexConfig.concepts``."""


@dataclass(frozen=True)
class IndexConfig:
    ann: AnnChoice = "auto"
    hnsw_threshold: int = 40_000
    """Vector count from which ``auto`` builds an HNSW graph instead of exact search.

    Around this size exact search, one query at a time, grows slower than a few milliseconds
    while HNSW answers in well under one at recall@10 near 1, and building the graph is repaid
    within thousands of queries, small next to embedding that many chunks.
    ``benchmarks/ann_choice.py`` measures both by size (docs/vector-indexes.md).
    ``choose_kind(n, config, current="hnsw")`` keeps an existing graph down to 0.8 x this size,
    so a collection hovering near it is not rebuilt back and forth."""
    hnsw_segment: int = 131_072
    """Vectors one HNSW graph holds at most; a larger collection is several graphs, searched
    together (``lore.store.hnsw``). A graph is built whole in memory, so this bounds what
    ``lore index`` holds for the vectors, whatever the collection's size. Applies to graphs
    built from then on. ``benchmarks/hnsw_segments.py`` measures recall, latency and build
    memory by segment size (docs/vector-indexes.md)."""
    ivfpq_threshold: int = 2_000_000
    """Vector count from which ``auto`` builds IVF-PQ instead of HNSW: where memory, not speed,
    decides (kept down to 0.8 x this size once built, like HNSW).

    HNSW holds the float32 vectors plus links; IVF-PQ holds a small fraction of that and is
    as fast with the vectors in memory, but in lore it re-scores its shortlist from SQLite,
    which costs more than its scan. So HNSW is preferred while its memory fits; at this
    default it needs a few gigabytes, beyond what a local tool should take beside the embedder
    and the page cache. Raise it on a machine with memory to spare, lower it where memory is
    short. ``lsh`` is never picked by size: its scan is linear. ``benchmarks/ann_family.py``
    measures the family at 50k and 1M vectors (docs/vector-indexes.md)."""
    pgvector_m: int = 16
    """Links per node of the HNSW graph in PostgreSQL (``ann = "pgvector"``); pgvector's
    default. A change builds the graph again."""
    pgvector_ef_construction: int = 64
    """Candidates while that graph is built; pgvector's default. A change builds it again."""
    pgvector_ef_search: int = 200
    """Candidates per search of that graph (raised to the rows a search asks for, at most
    1,000): the smallest of those ``python benchmarks/pg_scale.py`` sweeps that keeps
    recall@10 above 0.95 at 1M chunks (docs/postgres.md)."""
    concepts: ConceptTiming = "index"
    """When the concept index (what the graph retriever walks, and global questions read) is
    derived: ``index``, at the end of every ``lore index``, so no question waits for it;
    ``first-use``, when a search or question first needs it. Tagging every chunk's noun
    phrases is the slowest step of indexing once embedding is fast, so ``first-use`` suits a
    large collection that is searched without the graph (docs/indexing.md)."""
    concept_workers: int | None = None
    """Processes that tag chunks' concepts while the concept index is built (from 2,048
    chunks): ``None``, one per core this process may use. The tagger is pure Python, so a
    process per core is what makes the step scale (docs/graph.md)."""


AnswerModeName = Literal["stuff", "rag-sequence", "rag-token"]


@dataclass(frozen=True)
class GenerateConfig:
    model: str = "qwen-0.5b"
    """The answering model: a GGUF name (``qwen-0.5b``, ``qwen-1.5b``, ``smollm2``), a local
    ``.gguf`` path, a hub file ``owner/repo/file.gguf``, or an OpenAI-compatible server as
    ``openai:http://host:port/v1/<model>``."""
    mode: AnswerModeName = "stuff"
    """``stuff``: every source in one prompt; ``rag-sequence`` / ``rag-token``: one prompt per
    source, the answer marginalised over sources (local models only)."""
    k: int = 5
    """Sources retrieved for a question."""
    template: str = "answer"
    """System instruction by name (``lore.generate.prompt.TEMPLATES``)."""
    context_tokens: int = 4096
    """The local model's context window; for a server, the window to pack prompts into."""
    answer_tokens: int = 256
    """Tokens kept free for the answer (its maximum length)."""
    source_tokens: int = 96
    """A source longer than this many tokens is cut to its chunk, then to the sentences that
    best match the question: time to first token grows with the prompt. 96 halved the prompt
    of five SQuAD sources without lowering ``short`` F1, where longer and shorter cuts did
    worse (``benchmarks/qa.py`` runs with this changed; ``benchmarks/source_cut.py`` counts the
    answers a cut keeps; docs/answers.md)."""
    min_relevance: float | None = None
    """Best dense score below which the knowledge base is taken not to hold the answer and
    no model is asked; ``None``: the value calibrated for the embedder
    (its ``relevance_floor`` in ``lore.embed.registry``), if any."""
    prior_temperature: float = 1.0
    """Softmax temperature turning fused retrieval scores into p(source | question)."""
    source_mass: float | None = 0.9
    """Of the ``k`` sources, the model reads those, in rank order, whose p(source | question)
    adds up to this, when retrieval alone gives that probability; the unlikely rest would
    mislead it (``benchmarks/qa.py --runs squad:150:stuff,squad:150:stuff:all-sources``
    measures it; docs/answers.md). ``None`` (or 1.0): all ``k``."""
    question_likelihood: float | None = None
    """Weight of the question's likelihood given each source in p(source | question):
    p(z | x) is taken proportional to p_retrieval(z | x) * p(x | z) ** weight, with p(x | z)
    how likely the model finds the question after reading source z alone (Sachan et al.
    2022, "Improving Passage Retrieval with Zero-Shot Question Generation"). It reorders the
    sources and sharpens the cut (``weighed_source_mass``), at one prompt evaluation per
    scored source before the answer starts. It needs a local model's token probabilities:
    ``None`` (the default) is 0.1 with a local model and 0 (off) with a server. 0.1 was
    chosen on SQuAD and confirmed on CMRC 2018: ``benchmarks/qa.py --runs
    squad:500:stuff:likelihood-first`` measures it (docs/answers.md)."""
    weighed_source_mass: float | None = 0.5
    """The ``source_mass`` cut when the question's likelihood weighs the sources: the model
    reads the likeliest source alone unless it holds less than half (chosen with the weight,
    docs/answers.md)."""
    likelihood_sources: int = 3
    """How many of the sources, in retrieval order, the question's likelihood scores (and so
    may reorder); the rest follow them in retrieval order. It bounds the scoring passes
    before the first token: the ``answer`` template's five sources would cost five."""
    threads: int | None = None
    """llama.cpp threads for a local model; ``None``: before each prompt, the cores other work
    left idle (``lore.models.load``). llama.cpp's sums depend on the thread count, so a fixed
    count gives the same answer to the same question whatever else the machine is doing."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding a server's API key (the key itself is never stored)."""
    timeout: float = 60.0
    """Seconds a server may take to send the next piece of an answer."""


StrategyName = Literal["auto", "single", "multi-query", "hyde", "step-back", "decompose",
                       "iterative", "reflect", "long-context", "sql", "global", "local"]
"""How a question is planned (``lore.query``): ``single`` retrieves once for the question;
the others rewrite it, split it, retrieve in several hops, check the answer, read whole
documents, or query the knowledge base's metadata; ``global`` and ``local`` search the concept
graph's communities (LazyGraphRAG); ``auto`` picks one per question."""


@dataclass(frozen=True)
class QueryConfig:
    strategy: StrategyName = "single"
    """The strategy ``ask`` uses; ``single`` until ``auto`` measures better on every shared
    set (docs/query.md)."""
    router: str = "rules"
    """How ``auto`` picks: ``rules`` (the question's words, ``lore.query.router``) or a router
    trained on traces, ``trained:<name>`` (``lore train router``)."""
    max_calls: int = 8
    """Model calls a question may cost, its answer included; a strategy that reaches it
    answers from what it has and says so."""
    max_tokens: int = 12_000
    """Model tokens (prompt and output) a question's planning may spend before its answer."""
    rewrites: int = 3
    """Queries ``multi-query`` writes besides the question."""
    hops: int = 3
    """Reasoning steps ``iterative`` takes at most, each one a retrieval."""
    hop_k: int = 3
    """Passages each later hop of ``iterative`` and each sub-question of ``decompose`` adds."""
    hop_retrievers: tuple[str, ...] = ("lexical", "dense", "graph")
    """What ``iterative`` and ``decompose`` search with: the graph beside lexical and dense
    search, because a walk over concepts reaches the second paragraph of a two-hop question
    (on HotpotQA; on single-hop SciFact it costs a little, so other strategies leave it out:
    docs/graph.md). Empty: the search mode's retrievers."""
    sub_questions: int = 3
    """Most sub-questions ``decompose`` asks."""
    plan_tokens: int = 96
    """Longest text a planning call writes (a rewrite, a sub-question, a reasoning step)."""
    long_context_tokens: int = 32_768
    """The window ``long-context`` opens the model with, to read whole documents."""
    sql_rows: int = 50
    """Rows a metadata query may return."""
    sql_seconds: float = 2.0
    """Time a metadata query may run."""
    relevance_budget: int = 200
    """Relevance tests ``global`` and ``local`` may spend on chunks of the concept graph's
    communities: the cost knob of LazyGraphRAG's search (``lore ask --budget``)."""
    relevance_test: str = "embedding"
    """What judges a chunk relevant: ``embedding`` (its similarity to the question clears the
    embedder's relevance floor; no model call), or a reranker spec: ``llm`` (the local
    model's yes/no odds), ``trained:<name>`` or ``cross-encoder:<model>``."""
    community_tests: int = 2
    """Chunks tested in a community at each visit, best-ranked first."""
    community_misses: int = 3
    """Communities in a row with no relevant chunk after which the search stops widening and
    goes down into the sub-communities of those that had some (LazyGraphRAG's z)."""
    claim_calls: int = 2
    """Model calls that extract claims from the relevant chunks, each over a few communities
    (the map step); the answer is then written from the claims (the reduce step). 0: the
    answer reads the chunks alone (chosen on SQuAD articles, docs/graph.md)."""


@dataclass(frozen=True)
class ServeConfig:
    data_dir: Path = Path(".lore-server")
    """Collections (one knowledge base each), uploaded files, keys and jobs."""
    host: str = "127.0.0.1"
    """Loopback unless told otherwise: the server is reachable from this machine only."""
    port: int = 8000
    max_body_bytes: int = 8 * 2**20
    """Largest JSON request body."""
    max_upload_bytes: int = 64 * 2**20
    """Largest uploaded file."""
    ask_queue: int = 4
    """Questions that may wait while the local model answers one; past this, 503."""
    batch_window: float = 0.002
    """Seconds a query embedding waits for others to share its forward pass."""
    job_lease: float = 30.0
    """Seconds after its last heartbeat (sent every third of that) that a running ingestion
    job counts as abandoned, and another replica over the same store takes it up."""
    model_threads: int = 1
    """Threads each embedding forward pass uses. Concurrent requests already keep the cores
    busy; a pass split across threads then waits for a busy core, and was measured slower
    with two threads than with one under load (``benchmarks/query_embedding.py``;
    docs/serving.md)."""


@dataclass(frozen=True)
class LoreConfig:
    kb_dir: Path = DEFAULT_KB_DIR
    store: str | None = None
    """Where the documents live: ``None`` for the knowledge base's own SQLite file, or a
    ``postgresql://`` URL (``LORE_STORE``, ``--store``); the directory then keeps only
    derived indexes and models."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    retrieve: RetrieveConfig = field(default_factory=RetrieveConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LoreConfig:
        """Read ``LORE_*`` variables: ``LORE_HOME``, ``LORE_MODEL``, ``LORE_BATCH_SIZE``,
        ``LORE_DTYPE``, ``LORE_FUSION``, ``LORE_ANN``, ``LORE_HNSW_SEGMENT``,
        ``LORE_EF_SEARCH``, ``LORE_CHUNK_TOKENS``, ``LORE_CODE_VIEW``, ``LORE_RERANKER``,
        ``LORE_GENERATOR``, ``LORE_ANSWER_MODE``, ``LORE_API_KEY_ENV``,
        ``LORE_QUESTION_LIKELIHOOD``, ``LORE_SOURCE_MASS``, ``LORE_LLAMA_THREADS``,
        ``LORE_GRAPH_WEIGHT``, ``LORE_GRAPH_ANCHOR``, ``LORE_STRATEGY``, ``LORE_ROUTER``,
        ``LORE_SERVE_DIR``, ``LORE_HOST``, ``LORE_PORT``, ``LORE_MAX_BODY``,
        ``LORE_MAX_UPLOAD``, ``LORE_ASK_QUEUE``, ``LORE_MODEL_THREADS``,
        ``LORE_BATCH_WINDOW``, ``LORE_JOB_LEASE``, ``LORE_STORE``."""
        config = cls()
        if "LORE_HOME" in environ:
            config = replace(config, kb_dir=Path(environ["LORE_HOME"]))
        if environ.get("LORE_STORE"):
            config = replace(config, store=environ["LORE_STORE"])
        embed = _override(config.embed, environ, {
            "LORE_MODEL": ("model", str),
            "LORE_BATCH_SIZE": ("batch_size", _positive_int),
            "LORE_DTYPE": ("dtype", _choice(Dtype)),
        })
        retrieve = _override(config.retrieve, environ, {
            "LORE_FUSION": ("fusion", _choice(Fusion)),
            "LORE_RERANKER": ("reranker", str),
            "LORE_GRAPH_WEIGHT": ("graph_weight", float),
            "LORE_GRAPH_ANCHOR": ("graph_anchor", _non_negative_int),
        })
        index = _override(config.index, environ, {
            "LORE_ANN": ("ann", _choice(AnnChoice)),
            "LORE_HNSW_SEGMENT": ("hnsw_segment", _positive_int),
            "LORE_CONCEPTS": ("concepts", _choice(ConceptTiming)),
            "LORE_CONCEPT_WORKERS": ("concept_workers", _positive_int),
            "LORE_EF_SEARCH": ("pgvector_ef_search", _positive_int),
        })
        ingest = _override(config.ingest, environ, {
            "LORE_CHUNK_TOKENS": ("chunk_tokens", _positive_int),
            "LORE_CODE_VIEW": ("code_view", _choice(CodeView)),
        })
        generate = _override(config.generate, environ, {
            "LORE_GENERATOR": ("model", str),
            "LORE_ANSWER_MODE": ("mode", _choice(AnswerModeName)),
            "LORE_API_KEY_ENV": ("api_key_env", str),
            "LORE_QUESTION_LIKELIHOOD": ("question_likelihood", float),
            "LORE_SOURCE_MASS": ("source_mass", float),
            "LORE_LLAMA_THREADS": ("threads", _positive_int),
        })
        query = _override(config.query, environ,
                          {"LORE_STRATEGY": ("strategy", _choice(StrategyName)),
                           "LORE_ROUTER": ("router", str),
                           "LORE_RELEVANCE_TEST": ("relevance_test", str)})
        serve = _override(config.serve, environ, {
            "LORE_SERVE_DIR": ("data_dir", Path),
            "LORE_HOST": ("host", str),
            "LORE_PORT": ("port", _positive_int),
            "LORE_MAX_BODY": ("max_body_bytes", _positive_int),
            "LORE_MAX_UPLOAD": ("max_upload_bytes", _positive_int),
            "LORE_ASK_QUEUE": ("ask_queue", _non_negative_int),
            "LORE_MODEL_THREADS": ("model_threads", _positive_int),
            "LORE_BATCH_WINDOW": ("batch_window", float),
            "LORE_JOB_LEASE": ("job_lease", _positive_float),
        })
        return replace(config, embed=embed, retrieve=retrieve, index=index, ingest=ingest,
                       generate=generate, query=query, serve=serve)


T = TypeVar("T")


def _override(section: T, environ: Mapping[str, str],
              keys: Mapping[str, tuple[str, Callable[[str], object]]]) -> T:
    changes: dict[str, object] = {}
    for key, (name, cast) in keys.items():
        if key in environ:
            try:
                changes[name] = cast(environ[key])
            except ValueError as exc:
                raise ConfigError(f"environment variable {key}={environ[key]!r}: {exc}") from None
    return replace(section, **changes) if changes else section  # type: ignore[type-var]


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a positive number of seconds")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or a positive integer")
    return number


def _choice(literal: object) -> Callable[[str], str]:
    allowed = get_args(literal)

    def cast(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"choose from {', '.join(allowed)}")
        return value

    return cast


def setting_names() -> list[str]:
    """Every documented setting, ``section.field``: the docs test checks each is described."""
    names: list[str] = []
    defaults = LoreConfig()
    for section in fields(LoreConfig):
        value = getattr(defaults, section.name)
        if is_dataclass(value):
            names.extend(f"{section.name}.{f.name}" for f in fields(value))
        else:
            names.append(section.name)
    return names
