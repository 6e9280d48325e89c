"""``MetadataContract``: the promises of ``Store.metadata``, part of ``StoreContract``. A
statement runs read-only over the ``documents`` view, within its limits, and anything else
is refused without changing the store."""

from __future__ import annotations

import pytest

from lore.errors import QueryError
from lore.store.protocol import Store
from lore.testing.store_processes import batch, document, state, write

INJECTIONS = (
    "DELETE FROM documents",
    "UPDATE documents SET title = 'x'",
    "INSERT INTO documents(path) VALUES ('/x')",
    "DROP TABLE documents",
    "SELECT 1; DELETE FROM documents",
    "ATTACH DATABASE 'other.db' AS other",
    "PRAGMA writable_schema = ON",
    "SELECT * FROM files",
    "SELECT * FROM sqlite_master",
    "SELECT load_extension('evil')",
    "SELECT randomblob(1000000000)",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
    "CREATE TABLE stolen AS SELECT * FROM documents",
    "VACUUM INTO '/tmp/copy.db'",
)
"""Statements a model might be led to write by a hostile question: each is refused."""


class MetadataContract:
    """Inherited by ``StoreContract``; uses its ``store`` fixture."""

    def test_the_view_answers_counts_and_groups(self, store: Store) -> None:
        write(store, document("/kb/a.md", ["One."]), document("/kb/b.md", ["Two.", "Three."]),
              document("/kb/c.pdf", ["Page."], format="pdf"))
        count = store.metadata("SELECT count(*) FROM documents WHERE format = 'markdown'",
                               10, 2.0)
        assert count.rows == ((2,),)
        grouped = store.metadata("SELECT format, sum(chunks) AS n FROM documents "
                                 "GROUP BY format ORDER BY format", 10, 2.0)
        assert grouped.columns == ("format", "n") and grouped.rows == (("markdown", 3),
                                                                        ("pdf", 1))
        named = store.metadata("SELECT name, modified FROM documents WHERE path LIKE '%c.pdf'",
                               10, 2.0)
        assert named.rows[0][0] == "c.pdf" and str(named.rows[0][1]).startswith("20")

    def test_rows_past_the_limit_are_cut_and_said_to_be(self, store: Store) -> None:
        write(store, *batch("n", 7, 1))
        result = store.metadata("SELECT path FROM documents ORDER BY path", 5, 2.0)
        assert len(result.rows) == 5 and result.truncated

    def test_a_runaway_query_is_stopped_at_its_time_limit(self, store: Store) -> None:
        write(store, *batch("n", 40, 1))
        with pytest.raises(QueryError, match="ran past"):
            store.metadata("SELECT count(*) FROM documents a, documents b, documents c, "
                           "documents d, documents e, documents f", 5, 0.2)

    @pytest.mark.parametrize("statement", INJECTIONS)
    def test_anything_but_reading_the_view_is_refused(self, store: Store,
                                                     statement: str) -> None:
        write(store, document("/kb/a.md", ["One."]))
        before = state(store)
        with pytest.raises(QueryError, match="refused"):
            store.metadata(statement, 10, 1.0)
        assert state(store) == before
