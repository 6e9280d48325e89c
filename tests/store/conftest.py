"""The PostgreSQL server the store tests share (``lore.testing.postgres``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lore.testing import postgres


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """The test database's URL; schemas made on a server that outlives the tests are dropped."""
    url = postgres.server_url()
    yield url
    if os.environ.get(postgres.ENV):
        postgres.drop_all(url)
