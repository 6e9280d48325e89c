"""Every SQL statement the store runs, as named constants."""

PRAGMAS = (
    "PRAGMA busy_timeout=30000",
    # FULL: a commit is on disk before the document is reported indexed, even on power loss.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)

WAL = "PRAGMA journal_mode=WAL"
"""Set after ``PRAGMAS``. Switching a new file to WAL answers "database is locked" at once,
without waiting, while another connection does the same: the store retries it."""

GET_META = "SELECT value FROM meta WHERE key = ?"
SET_META = """
INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value
"""

GET_FILE = "SELECT path, size, mtime, hash FROM files WHERE path = ?"
UPSERT_FILE = """
INSERT INTO files(path, size, mtime, hash, indexed_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
    hash = excluded.hash, indexed_at = excluded.indexed_at
"""
DELETE_FILE = "DELETE FROM files WHERE path = ?"
LIST_FILE_PATHS = "SELECT path FROM files ORDER BY path"

DOCUMENT_HASHES_OF_FILE = "SELECT id, hash FROM documents WHERE path = ?"
EMBEDDED_VIEWS_OF_FILE = """
SELECT DISTINCT c.view_hash FROM documents d JOIN chunks c ON c.doc_id = d.id
JOIN vectors v ON v.hash = c.view_hash WHERE d.path = ?
"""
UPSERT_DOCUMENT = """
INSERT INTO documents(id, path, key, title, format, language, mtime, hash, text, meta)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET title = excluded.title, format = excluded.format,
    language = excluded.language, mtime = excluded.mtime, hash = excluded.hash,
    text = excluded.text, meta = excluded.meta
"""
DELETE_DOCUMENT = "DELETE FROM documents WHERE id = ?"

CHUNKS_OF_DOCUMENT = "SELECT rowid, id, view_hash FROM chunks WHERE doc_id = ?"
INSERT_CHUNK = """
INSERT INTO chunks(id, doc_id, ord, start, end, line_start, line_end, page, kind, section,
    parent_start, parent_end, symbol, text, view, view_hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
UPDATE_CHUNK_ORDER = "UPDATE chunks SET ord = ? WHERE rowid = ?"
DELETE_CHUNK = "DELETE FROM chunks WHERE rowid = ?"
CHUNK_COLUMNS = """
c.rowid, c.doc_id, c.start, c.end, c.line_start, c.line_end, c.page, c.kind, c.section,
c.parent_start, c.parent_end, c.symbol, c.text, c.view, d.path, d.title, d.key
"""
# Callers format a list of '?' placeholders into {marks}.
GET_CHUNKS_BY_ROWID = f"""
SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.doc_id
WHERE c.rowid IN ({{marks}})
"""

ALL_TERMS = "SELECT rowid, terms FROM chunk_terms"
TERMS_BY_ROWID = "SELECT rowid, terms FROM chunk_terms WHERE rowid IN ({marks})"
INSERT_TERMS = "INSERT INTO chunk_terms(rowid, terms) VALUES (?, ?)"
DELETE_TERMS = "DELETE FROM chunk_terms WHERE rowid = ?"

HAS_VECTOR = "SELECT 1 FROM vectors WHERE hash = ?"
INSERT_VECTOR = "INSERT OR IGNORE INTO vectors(hash, vector) VALUES (?, ?)"
DELETE_ORPHAN_VECTORS = """
DELETE FROM vectors WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.view_hash = vectors.hash)
"""
DELETE_ALL_VECTORS = "DELETE FROM vectors"
VIEWS_WITHOUT_VECTORS = """
SELECT c.view_hash, MIN(c.view) FROM chunks c
WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.hash = c.view_hash) GROUP BY c.view_hash
"""
CHUNK_VECTORS = """
SELECT c.rowid, v.vector FROM chunks c JOIN vectors v ON v.hash = c.view_hash
"""
CHUNK_VECTORS_BY_ROWID = """
SELECT c.rowid, v.vector FROM chunks c JOIN vectors v ON v.hash = c.view_hash
WHERE c.rowid IN ({marks})
"""
# One parameter, a JSON array of rowids: any number of them, one statement, one lookup each.
VECTORS_BY_ROWID_JSON = """
SELECT c.rowid, v.vector FROM json_each(?) j
JOIN chunks c ON c.rowid = j.value JOIN vectors v ON v.hash = c.view_hash
"""

LOG_CHANGE = "INSERT INTO changes(chunk, added) VALUES (?, ?)"
CHANGES_SINCE = "SELECT seq, chunk, added FROM changes WHERE seq > ? ORDER BY seq"
# AUTOINCREMENT keeps the highest sequence number ever used here, even after trimming.
LAST_CHANGE = "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'changes'"
TRIM_CHANGES = "DELETE FROM changes WHERE seq <= ?"

CHUNK_KINDS = "SELECT kind FROM chunks WHERE rowid IN ({marks})"
CHUNK_ROWIDS = "SELECT id, rowid FROM chunks WHERE id IN ({marks})"
DOCUMENT_TEXTS = "SELECT id, text FROM documents WHERE id IN ({marks})"
COUNT_DOCUMENTS = "SELECT COUNT(*) FROM documents"
COUNT_CHUNKS = "SELECT COUNT(*) FROM chunks"
COUNT_VECTORS = "SELECT COUNT(*) FROM vectors"
DOCUMENT_IDS_OF_FILE = "SELECT id FROM documents WHERE path = ?"

# Filter fragments: the filter builder joins these with AND over the chunk/document join.
FILTERED_CHUNK_ROWIDS = """
SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE {where}
ORDER BY c.rowid
"""
FILTER_PATH_GLOB = "(d.path GLOB ? OR d.path GLOB ?)"
FILTER_FORMAT = "d.format = ?"
FILTER_LANGUAGE = "d.language = ?"
FILTER_KIND = "c.kind = ?"
FILTER_MODIFIED = "d.mtime {op} ?"
