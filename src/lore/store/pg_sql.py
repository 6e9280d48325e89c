"""Every statement the PostgreSQL store runs, and its numbered migrations.

Tables live in the store's own schema (``lore`` unless the URL names another), which every
connection puts first on its ``search_path``; so these statements name tables bare.
Never edit a released migration: add one.
"""

M001_CREATE_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (
    path TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    mtime DOUBLE PRECISION NOT NULL,
    hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    key TEXT NOT NULL,
    title TEXT NOT NULL,
    format TEXT NOT NULL,
    language TEXT NOT NULL,
    mtime DOUBLE PRECISION NOT NULL,
    hash TEXT NOT NULL,
    text TEXT NOT NULL,
    meta JSONB NOT NULL
);
CREATE INDEX documents_by_path ON documents(path);
CREATE TABLE chunks (
    rowid BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    span_start INTEGER NOT NULL,
    span_end INTEGER NOT NULL,
    line_start INTEGER,
    line_end INTEGER,
    page INTEGER,
    kind TEXT NOT NULL,
    section JSONB NOT NULL,
    parent_start INTEGER,
    parent_end INTEGER,
    symbol TEXT NOT NULL,
    text TEXT NOT NULL,
    view TEXT NOT NULL,
    view_hash TEXT NOT NULL,
    terms TEXT NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks(doc_id);
CREATE INDEX chunks_by_view ON chunks(view_hash);
CREATE TABLE vectors (hash TEXT PRIMARY KEY, vector vector NOT NULL);
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    chunk BIGINT NOT NULL,
    added BOOLEAN NOT NULL
);
"""
"""The first schema. Vectors are pgvector's ``vector`` without a fixed dimension, so any
embedder's fit; an approximate index casts them to its dimension."""

MIGRATIONS: tuple[str, ...] = (M001_CREATE_TABLES,)
SCHEMA_VERSION = len(MIGRATIONS)

CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
                                           version INTEGER NOT NULL)
"""
GET_VERSION = "SELECT version FROM schema_version"
SET_VERSION = """
INSERT INTO schema_version(version) VALUES (%s)
ON CONFLICT (one) DO UPDATE SET version = excluded.version
"""
HAS_VERSION_TABLE = "SELECT to_regclass(format('%%I.schema_version', %s::text)) IS NOT NULL"
LOCK_SESSION = "SELECT pg_advisory_lock(hashtext(%s))"
UNLOCK_SESSION = "SELECT pg_advisory_unlock(hashtext(%s))"
LOCK_STORE = "SELECT pg_advisory_xact_lock(hashtext(%s))"
"""Held by each write transaction until it ends: writers to one store take turns, so change
numbers commit in order (a reader never sees seq 10 before seq 9 is there)."""

GET_META = "SELECT value FROM meta WHERE key = %s"
SET_META = """
INSERT INTO meta(key, value) VALUES (%s, %s)
ON CONFLICT (key) DO UPDATE SET value = excluded.value
"""

GET_FILE = "SELECT path, size, mtime, hash FROM files WHERE path = %s"
UPSERT_FILE = """
INSERT INTO files(path, size, mtime, hash, indexed_at) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
    hash = excluded.hash, indexed_at = excluded.indexed_at
"""
DELETE_FILE = "DELETE FROM files WHERE path = %s"
LIST_FILE_PATHS = "SELECT path FROM files ORDER BY path COLLATE \"C\""

DOCUMENT_HASHES_OF_FILE = "SELECT id, hash FROM documents WHERE path = %s"
EMBEDDED_VIEWS_OF_FILE = """
SELECT DISTINCT c.view_hash FROM documents d JOIN chunks c ON c.doc_id = d.id
JOIN vectors v ON v.hash = c.view_hash WHERE d.path = %s
"""
DOCUMENT_IDS_OF_FILE = "SELECT id FROM documents WHERE path = %s"
UPSERT_DOCUMENTS = """
INSERT INTO documents(id, path, key, title, format, language, mtime, hash, text, meta)
SELECT id, path, key, title, format, language, mtime, hash, text, meta::jsonb
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::float8[], %s::text[], %s::text[], %s::text[])
     AS new(id, path, key, title, format, language, mtime, hash, text, meta)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, format = excluded.format,
    language = excluded.language, mtime = excluded.mtime, hash = excluded.hash,
    text = excluded.text, meta = excluded.meta
"""
"""A batch's documents in one statement, one array per column (each id once)."""
DELETE_DOCUMENT = "DELETE FROM documents WHERE id = %s"

NEXT_CHUNK_ROWIDS = ("SELECT nextval(pg_get_serial_sequence('chunks', 'rowid')) "
                     "FROM generate_series(1, %s) ORDER BY 1")
COPY_CHUNKS = """
COPY chunks(rowid, id, doc_id, ord, span_start, span_end, line_start, line_end, page, kind,
    section, parent_start, parent_end, symbol, text, view, view_hash, terms) FROM STDIN
"""
"""A batch's new chunks, rowids given (``NEXT_CHUNK_ROWIDS``), in the order of the rows."""
CHUNKS_OF_DOCUMENT = "SELECT rowid, id, view_hash FROM chunks WHERE doc_id = %s"
CHUNKS_OF_DOCUMENTS = "SELECT doc_id, rowid, id, view_hash FROM chunks WHERE doc_id = ANY(%s)"
INSERT_CHUNKS = """
INSERT INTO chunks(id, doc_id, ord, span_start, span_end, line_start, line_end, page, kind,
    section, parent_start, parent_end, symbol, text, view, view_hash, terms)
SELECT id, doc_id, ord, span_start, span_end, line_start, line_end, page, kind,
    section::jsonb, parent_start, parent_end, symbol, text, view, view_hash, terms
FROM unnest(%s::text[], %s::text[], %s::int[], %s::int[], %s::int[], %s::int[], %s::int[],
            %s::int[], %s::text[], %s::text[], %s::int[], %s::int[], %s::text[], %s::text[],
            %s::text[], %s::text[], %s::text[])
     WITH ORDINALITY AS new(id, doc_id, ord, span_start, span_end, line_start, line_end, page,
                            kind, section, parent_start, parent_end, symbol, text, view,
                            view_hash, terms, n)
ORDER BY n
RETURNING rowid
"""
"""A batch's new chunks in one statement, one array per column, inserted in the order given
so that each document's rowids rise in it."""
UPDATE_CHUNK_ORDER = """
UPDATE chunks c SET ord = kept.ord FROM unnest(%s::bigint[], %s::int[]) AS kept(rowid, ord)
WHERE c.rowid = kept.rowid AND c.ord <> kept.ord
"""
DELETE_CHUNKS = "DELETE FROM chunks WHERE rowid = ANY(%s)"
GET_CHUNKS_BY_ROWID = """
SELECT c.rowid, c.doc_id, c.span_start, c.span_end, c.line_start, c.line_end, c.page, c.kind,
       c.section, c.parent_start, c.parent_end, c.symbol, c.text, c.view,
       d.path, d.title, d.key
FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.rowid = ANY(%s)
"""

ALL_TERMS = "SELECT rowid, terms FROM chunks"
TERMS_BY_ROWID = "SELECT rowid, terms FROM chunks WHERE rowid = ANY(%s)"

STORED_HASHES = "SELECT hash FROM vectors WHERE hash = ANY(%s)"
INSERT_VECTOR = "INSERT INTO vectors(hash, vector) VALUES (%s, %b) ON CONFLICT (hash) DO NOTHING"
DELETE_ORPHAN_VECTORS = """
DELETE FROM vectors v WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.view_hash = v.hash)
"""
DELETE_ALL_VECTORS = "DELETE FROM vectors"
VIEWS_WITHOUT_VECTORS = """
SELECT c.view_hash, MIN(c.view) FROM chunks c
WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.hash = c.view_hash) GROUP BY c.view_hash
"""
CHUNK_VECTORS = "SELECT c.rowid, v.vector FROM chunks c JOIN vectors v ON v.hash = c.view_hash"
CHUNK_VECTORS_BY_ROWID = f"{CHUNK_VECTORS} WHERE c.rowid = ANY(%s)"

LOG_CHANGES = """
INSERT INTO changes(chunk, added)
SELECT rowid, %s FROM unnest(%s::bigint[]) WITH ORDINALITY AS logged(rowid, n) ORDER BY n
"""
CHANGES_SINCE = "SELECT seq, chunk, added FROM changes WHERE seq > %s ORDER BY seq"
LAST_CHANGE = """
SELECT GREATEST(COALESCE((SELECT MAX(seq) FROM changes), 0),
                COALESCE((SELECT value::bigint FROM meta WHERE key = 'changes_floor'), 0))
"""
"""The highest number logged: the log's last, or once trimmed empty, the floor it was trimmed
to (a sequence's own counter would count numbers of writes rolled back too)."""
TRIM_CHANGES = "DELETE FROM changes WHERE seq <= %s"

# -- search inside the database (lore.store.pgvector) ------------------------------------------

HNSW_PREFIX = "vectors_hnsw_"
HNSW_INDEXES = """
SELECT indexname FROM pg_indexes
WHERE schemaname = %s AND tablename = 'vectors' AND indexname LIKE 'vectors\\_hnsw\\_%%'
"""
CREATE_HNSW = """
CREATE INDEX IF NOT EXISTS {name} ON vectors
USING hnsw ((vector::vector({dim})) vector_ip_ops) WITH (m = {m}, ef_construction = {ef})
WHERE vector_dims(vector) = {dim}
"""
"""One HNSW graph over the vectors of one dimension, by inner product (lore's vectors are
unit length, so it ranks as cosine does). The column has no fixed dimension, so the index
casts to one, and its predicate keeps vectors of another (a new embedder's) out of it."""
DROP_INDEX = "DROP INDEX IF EXISTS {name}"
BUILD_MEMORY = "SELECT set_config('maintenance_work_mem', %s, true)"
SET_EF_SEARCH = "SELECT set_config('hnsw.ef_search', %s, true)"
NEAREST = """
SELECT c.rowid, n.score FROM (
    SELECT hash, -(vector::vector({dim}) <#> %(query)b::vector({dim})) AS score FROM vectors
    WHERE vector_dims(vector) = {dim}
    ORDER BY vector::vector({dim}) <#> %(query)b::vector({dim}) LIMIT %(limit)s) n
JOIN chunks c ON c.view_hash = n.hash
ORDER BY n.score DESC, c.rowid
"""
"""The ``limit`` nearest vectors by the graph (the ORDER BY matches the index's expression and
the WHERE its predicate, or the planner would scan), then the chunks that share each."""
NEAREST_AMONG = """
SELECT c.rowid, -(v.vector <#> %(query)b) AS score
FROM chunks c JOIN vectors v ON v.hash = c.view_hash
WHERE c.rowid = ANY(%(allowed)s)
ORDER BY v.vector <#> %(query)b, c.rowid LIMIT %(k)s
"""
"""Exact scores of the allowed chunks only (a filter that lets few through)."""
COUNT_CHUNKS_WITH_VECTORS = """
SELECT COUNT(*) FROM chunks c JOIN vectors v ON v.hash = c.view_hash
WHERE vector_dims(v.vector) = %s
"""
INDEX_SIZE = "SELECT pg_relation_size(to_regclass(format('%%I.%%I', %s::text, %s::text)))"

CHUNK_KINDS = "SELECT kind FROM chunks WHERE rowid = ANY(%s)"
CHUNK_ROWIDS = "SELECT id, rowid FROM chunks WHERE id = ANY(%s)"
DOCUMENT_TEXTS = "SELECT id, text FROM documents WHERE id = ANY(%s)"
COUNT_DOCUMENTS = "SELECT COUNT(*) FROM documents"
COUNT_CHUNKS = "SELECT COUNT(*) FROM chunks"
COUNT_VECTORS = "SELECT COUNT(*) FROM vectors"
SIZE_BYTES = """
SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'
"""

DOCUMENT_ROWS = """
SELECT d.id, d.path, d.key, d.title, d.format, d.language, d.mtime, f.size, f.indexed_at,
       (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id)
FROM documents d LEFT JOIN files f ON f.path = d.path
"""
"""What a metadata query may read of each document (``lore.store.metadata``)."""

FILTERED_CHUNK_ROWIDS = """
SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE {where}
ORDER BY c.rowid
"""
FILTER_PATH = "(d.path ~ %s OR d.path ~ %s)"
FILTER_FORMAT = "d.format = ANY(%s)"
FILTER_LANGUAGE = "d.language = ANY(%s)"
FILTER_KIND = "c.kind = ANY(%s)"
FILTER_MODIFIED = "d.mtime {op} %s"
