from datetime import UTC, datetime

import pytest

from lore.errors import QueryError
from lore.retrieve.filters import parse_where
from lore.types import Filter


def test_fields_and_repeats() -> None:
    result = parse_where(["path=src/*", "type=markdown", "type=pdf", "lang=python", "kind=code"])
    assert result == Filter(paths=("src/*",), formats=("markdown", "pdf"),
                            languages=("python",), kinds=("code",))


def test_dates() -> None:
    result = parse_where(["modified>=2024-01-31", "modified<2024-06-01T12:00"])
    assert result.modified_after == datetime(2024, 1, 31, tzinfo=UTC).timestamp()
    assert result.modified_before == datetime(2024, 6, 1, 12, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("expression, message", [
    ("nonsense", "write field=value"),
    ("colour=red", "unknown filter field 'colour'"),
    ("modified>=yesterday", "is not a date"),
    ("path>=x", "only '='"),
    ("kind=weird", "kind is one of prose, code"),
])
def test_bad_expressions_say_what_to_write(expression: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_where([expression])


def test_empty_filter_is_falsy() -> None:
    assert not parse_where([])
    assert parse_where(["kind=prose"])
