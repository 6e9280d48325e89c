from lore.ingest.view import code_view, prose_view, split_identifier
from lore.types import Symbol

SYMBOL = Symbol(name="HTTPCache.invalidate_entry", kind="method",
                signature="def invalidate_entry(self, key):",
                docstring="Drop one entry at once.\n\nCalled on every write.", comments="")


def test_identifiers_split_into_words() -> None:
    assert split_identifier("HTTPServer.get_user_id") == ["http", "server", "get", "user", "id"]
    assert split_identifier("parseJSONResponse2") == ["parse", "json", "response2"]


def test_prose_view_puts_title_and_trail_first_without_repeats() -> None:
    assert prose_view("Entries expire.", "Guide", ("Caching", "TTL")) == \
        "Guide > Caching > TTL\nEntries expire."
    assert prose_view("Entries expire.", "Caching", ("Caching", "TTL")) == \
        "Caching > TTL\nEntries expire."


def test_prose_view_keeps_a_title_the_text_repeats() -> None:
    assert prose_view("Shirley Temple was an actress.", "Shirley Temple") == \
        "Shirley Temple\nShirley Temple was an actress."


def test_code_view_describes_the_symbol_in_words_then_the_code() -> None:
    code = "    def invalidate_entry(self, key):\n        self._entries.pop(key)\n"
    view = code_view(code, SYMBOL, "/repo/src/http_cache.py", "python")
    first = view.splitlines()[0]
    assert "http cache invalidate entry" in first and first.startswith("python method")
    assert "Drop one entry at once." in view and "Called on every write" not in view
    assert "file repo/src/http_cache.py: http cache" in view
    assert view.endswith(code)


def test_docstring_already_in_the_code_is_not_repeated() -> None:
    code = ('def invalidate_entry(self, key):\n'
            '    """Drop one entry at once.\n\nCalled on every write."""\n')
    view = code_view(code, SYMBOL, "/r/a.py", "python")
    assert view.count("Drop one entry at once.") == 1
    assert view.count("def invalidate_entry(self, key):") == 1


def test_code_view_styles() -> None:
    symbol = Symbol(name="Cache.get_entry", kind="method", signature="def get_entry(self, key):",
                    docstring="Return the entry for key.")
    code = "def get_entry(self, key):\n    return self.entries[key]"
    both = code_view(code, symbol, "/repo/src/cache.py", "python")
    described = code_view(code, symbol, "/repo/src/cache.py", "python", "description")
    assert code_view(code, symbol, "/repo/src/cache.py", "python", "code") == code
    assert both.endswith(code) and "get entry" in both
    assert "return self.entries" not in described
    assert "Return the entry for key." in described and "file repo/src/cache.py" in described
    assert "file" not in code_view(code, symbol, "", "python", "description")
