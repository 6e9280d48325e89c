"""Source code -> one block per symbol, by tree-sitter: names, kinds, spans, coverage."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import pytest

from lore.errors import ConfigError, IngestError
from lore.ingest.code import extract_blocks, parse_code
from lore.ingest.view import code_view, split_identifier
from lore.types import Block, Document, Symbol


def parse(name: str, source: str) -> Document:
    """Parse a snippet and check the invariants every code document must keep."""
    [doc] = parse_code(Path(name), textwrap.dedent(source).encode("utf-8"), 1.0)
    assert_invariants(doc)
    return doc


def assert_invariants(doc: Document) -> None:
    for block in doc.blocks:
        assert doc.text[block.start : block.end] == block.text
        assert block.kind == "code"
        assert block.symbol is not None
        assert block.text == block.text.rstrip() and block.text.strip()
        for start, end in block.statements:
            assert block.start <= start < end <= block.end
        assert list(block.statements) == sorted(block.statements)
    for before, after in zip(doc.blocks, doc.blocks[1:], strict=False):
        assert before.end <= after.start
    offset = 0
    for line in doc.text.splitlines(keepends=True):
        content_end = offset + len(line.rstrip())
        if line.strip():
            owners = [b for b in doc.blocks if b.start < content_end and b.end > offset]
            assert len(owners) == 1, f"line {line!r} is in {len(owners)} blocks"
        offset += len(line)


def symbols(doc: Document) -> list[tuple[str, str]]:
    """(qualified name, kind) of every block, in order, repeats (class tails) removed."""
    seen = [(b.symbol.name, b.symbol.kind) for b in doc.blocks if b.symbol is not None]
    return [pair for i, pair in enumerate(seen) if i == 0 or seen[i - 1] != pair]


def block(doc: Document, name: str) -> Block:
    """The first block of a symbol (module blocks, named after the file, are left out)."""
    return next(
        b
        for b in doc.blocks
        if b.symbol is not None and b.symbol.name == name and b.symbol.kind != "module"
    )


def sym(doc: Document, name: str) -> Symbol:
    found = block(doc, name).symbol
    assert found is not None
    return found


PYTHON = '''\
"""Caching helpers."""
import os

LIMIT = 10  # entries


class Cache(Base):
    """An LRU cache."""

    size: int = 3

    # Evict one key.
    @staticmethod
    def invalidate(key: str) -> bool:
        """Drop ``key`` from the cache."""
        # look it up first
        found = key in STORE
        if found:
            del STORE[key]
        return found

    class Entry:
        value: int = 0

        def touch(self) -> None:
            pass

    def clear(self):
        STORE.clear()


def load(path):
    return open(path).read()


if __name__ == "__main__":
    load("x")
'''


def test_python_symbols_names_and_kinds() -> None:
    doc = parse("cache.py", PYTHON)

    assert symbols(doc) == [
        ("cache", "module"),
        ("Cache", "class"),
        ("Cache.invalidate", "method"),
        ("Cache.Entry", "class"),
        ("Cache.Entry.touch", "method"),
        ("Cache.clear", "method"),
        ("load", "function"),
        ("cache", "module"),
    ]
    assert (doc.path, doc.title, doc.format, doc.language, doc.mtime) == (
        "cache.py", "cache.py", "python", "python", 1.0
    )


def test_python_signature_docstring_and_comments() -> None:
    doc = parse("cache.py", PYTHON)
    invalidate = sym(doc, "Cache.invalidate")

    assert invalidate.signature == "@staticmethod def invalidate(key: str) -> bool:"
    assert invalidate.docstring == "Drop ``key`` from the cache."
    assert invalidate.comments == "Evict one key.\nlook it up first"
    assert sym(doc, "Cache").docstring == "An LRU cache."
    assert sym(doc, "Cache").signature == "class Cache(Base):"
    assert sym(doc, "load").signature == "def load(path):"


def test_python_class_block_stops_before_its_first_method() -> None:
    doc = parse("cache.py", PYTHON)
    head = block(doc, "Cache")

    assert head.text == 'class Cache(Base):\n    """An LRU cache."""\n\n    size: int = 3'
    assert head.parent is None and head.section == ()
    method = block(doc, "Cache.invalidate")
    assert method.text.startswith("    # Evict one key.\n    @staticmethod\n    def invalidate")
    assert "class Entry" not in method.text and "def clear" not in method.text


def test_python_parent_spans_and_sections() -> None:
    doc = parse("cache.py", PYTHON)
    class_start = doc.text.index("class Cache")
    class_end = doc.text.index("STORE.clear()") + len("STORE.clear()")

    assert block(doc, "Cache.invalidate").parent == (class_start, class_end)
    assert block(doc, "Cache.invalidate").section == ("Cache",)
    touch = block(doc, "Cache.Entry.touch")
    assert touch.section == ("Cache", "Entry")
    assert touch.parent is not None
    assert doc.text[touch.parent[0] : touch.parent[1]].lstrip().startswith("class Entry:")
    assert block(doc, "load").parent is None


def test_python_statements_are_the_top_level_statements_of_the_body() -> None:
    doc = parse("cache.py", PYTHON)
    method = block(doc, "Cache.invalidate")
    texts = [doc.text[s:e].strip() for s, e in method.statements]

    assert len(texts) == 4
    assert texts[0] == '"""Drop ``key`` from the cache."""'
    assert texts[1] == "# look it up first\n        found = key in STORE"
    assert texts[2].startswith("if found:") and texts[2].endswith("del STORE[key]")
    assert texts[3] == "return found"


def test_python_module_blocks_group_code_between_symbols() -> None:
    doc = parse("cache.py", PYTHON)
    modules = [b for b in doc.blocks if b.symbol is not None and b.symbol.kind == "module"]

    assert modules[0].text == '"""Caching helpers."""\nimport os\n\nLIMIT = 10  # entries'
    assert modules[0].symbol is not None and modules[0].symbol.comments == "entries"
    assert len(modules[0].statements) == 3
    assert modules[1].text == 'if __name__ == "__main__":\n    load("x")'


def test_non_ascii_source_gets_character_offsets() -> None:
    source = '''\
    # 缓存模块：中文注释
    class 缓存:
        """中文文档字符串。"""

        def 失效(self, 键):
            # 删除键 ✓
            return 键


    def après(x):  # é
        return "ü"
    '''
    doc = parse("zh.py", source)

    assert symbols(doc) == [("缓存", "class"), ("缓存.失效", "method"), ("après", "function")]
    head = block(doc, "缓存")
    assert head.start == 0 and head.text.startswith("# 缓存模块")
    assert sym(doc, "缓存").docstring == "中文文档字符串。"
    method = block(doc, "缓存.失效")
    assert method.start == doc.text.index("    def 失效")
    assert sym(doc, "缓存.失效").comments == "删除键 ✓"
    assert method.parent == (0, method.end)
    [(start, end)] = method.statements
    assert doc.text[start:end].strip() == "# 删除键 ✓\n        return 键"
    last = block(doc, "après")
    assert last.text == 'def après(x):  # é\n    return "ü"'


def test_syntax_errors_still_yield_blocks() -> None:
    source = '''\
    class Good:
        def ok(self):
            return 1


    def broken(:
        x =
        return 2
    '''
    doc = parse("broken.py", source)

    assert ("Good.ok", "method") in symbols(doc)
    assert "def broken(:" in "".join(b.text for b in doc.blocks)


def test_empty_file_yields_a_document_without_blocks() -> None:
    [empty] = parse_code(Path("empty.py"), b"", 0.0)
    [blank] = parse_code(Path("blank.go"), b"\n\n   \n", 0.0)

    assert empty.blocks == () and empty.text == ""
    assert blank.blocks == ()


def test_windows_line_endings_are_normalised_before_parsing() -> None:
    [doc] = parse_code(Path("win.py"), b"# Doubles.\r\ndef f(x):\r\n    return 2 * x\r\n", 0.0)

    assert_invariants(doc)
    [only] = doc.blocks
    assert only.text == "# Doubles.\ndef f(x):\n    return 2 * x"
    assert only.symbol is not None and only.symbol.docstring == "Doubles."


def test_unknown_suffix_and_language_are_refused() -> None:
    with pytest.raises(IngestError, match="known source file suffix"):
        parse_code(Path("notes.txt"), b"hello", 0.0)
    with pytest.raises(ConfigError, match="choose from"):
        extract_blocks("x = 1", "cobol")


def test_javascript_functions_classes_and_arrow_functions() -> None:
    source = """\
    import fs from "fs";

    /**
     * Reads a file.
     */
    export async function readAll(path) {
      // utf-8 only
      return fs.readFileSync(path, "utf8");
    }

    class Store {
      #items = [];
      get size() { return this.#items.length; }
      static create() { return new Store(); }
    }

    const double = (x) => x * 2;
    const handler = function (event) {
      event.stop();
    };

    module.exports = { Store };
    """
    doc = parse("store.js", source)

    assert symbols(doc) == [
        ("store", "module"),
        ("readAll", "function"),
        ("Store", "class"),
        ("Store.size", "method"),
        ("Store.create", "method"),
        ("double", "function"),
        ("handler", "function"),
        ("store", "module"),
    ]
    read_all = sym(doc, "readAll")
    assert read_all.signature == "export async function readAll(path)"
    assert read_all.docstring == "Reads a file."
    assert read_all.comments == "utf-8 only"
    assert sym(doc, "double").signature == "const double = (x) =>"
    assert block(doc, "double").statements == ()
    assert block(doc, "Store").text == "class Store {\n  #items = [];"
    assert block(doc, "Store.create").text.endswith("}\n}")


def test_typescript_interfaces_enums_decorators_and_namespaces() -> None:
    source = """\
    export interface Shape {
      area(): number;
    }

    export enum Color { Red, Green }
    export type Id = string;

    /** A cached service. */
    @Injectable()
    export abstract class Service<T> implements Shape {
      private cache = new Map<string, T>();

      area(): number {
        return 0;
      }

      abstract name(): string;
    }

    namespace Geometry {
      export function distance(a: number, b: number): number {
        return Math.abs(a - b);
      }
    }
    """
    doc = parse("service.ts", source)

    assert symbols(doc) == [
        ("Shape", "interface"),
        ("Color", "enum"),
        ("Id", "type"),
        ("Service", "class"),
        ("Service.area", "method"),
        ("Service", "class"),
        ("service", "module"),
        ("Geometry.distance", "function"),
    ]
    service = sym(doc, "Service")
    assert service.docstring == "A cached service."
    assert service.signature == "@Injectable() export abstract class Service<T> implements Shape"
    assert block(doc, "Service").text.startswith("/** A cached service. */\n@Injectable()")
    assert block(doc, "Geometry.distance").section == ("Geometry",)
    assert block(doc, "Geometry.distance").text.endswith("  }\n}")  # the closing brace joins
    assert sym(doc, "Service.area").signature == "area(): number"


def test_tsx_uses_the_tsx_grammar() -> None:
    source = """\
    type Props = { label: string };

    // A button.
    export const Button = ({ label }: Props) => {
      return <button className="b">{label}</button>;
    };

    export function App(): JSX.Element {
      return <Button label="ok" />;
    }
    """
    doc = parse("app.tsx", source)

    assert doc.language == "tsx"
    assert symbols(doc) == [("Props", "type"), ("Button", "function"), ("App", "function")]
    assert sym(doc, "Button").docstring == "A button."
    assert len(block(doc, "Button").statements) == 1


def test_go_receivers_are_qualified_with_package_and_type() -> None:
    source = """\
    package server

    import "fmt"

    // Server serves requests.
    type Server struct {
    \t// addr is host:port.
    \taddr string
    }

    type Handler interface {
    \tServe() error
    }

    // Start listens on port.
    // It blocks.
    func (s *Server) Start(port int) error {
    \tfmt.Println(port)
    \treturn nil
    }

    func NewServer() *Server { return &Server{} }
    """
    doc = parse("server.go", source)

    assert symbols(doc) == [
        ("server", "module"),
        ("server.Server", "struct"),
        ("server.Handler", "interface"),
        ("server.Server.Start", "method"),
        ("server.NewServer", "function"),
    ]
    start = sym(doc, "server.Server.Start")
    assert start.signature == "func (s *Server) Start(port int) error"
    assert start.docstring == "Start listens on port.\nIt blocks."
    assert block(doc, "server.Server.Start").section == ("server", "Server")
    assert len(block(doc, "server.Server.Start").statements) == 2
    assert sym(doc, "server.Server").signature == "type Server struct"
    assert sym(doc, "server.Server").comments == "addr is host:port."
    assert sym(doc, "server.Handler").signature == "type Handler interface"


def test_rust_impls_traits_attributes_and_modules() -> None:
    source = """\
    use std::fmt;

    /// A point in the plane.
    #[derive(Debug, Clone)]
    pub struct Point {
        x: i32,
    }

    impl fmt::Display for Point {
        /// Formats the point.
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            // just x
            write!(f, "{}", self.x)
        }
    }

    pub trait Shape {
        fn area(&self) -> f64;
        fn name(&self) -> String {
            String::from("shape")
        }
    }

    mod geometry {
        pub fn origin() -> i32 {
            0
        }
    }
    """
    doc = parse("point.rs", source)

    assert symbols(doc) == [
        ("point", "module"),
        ("Point", "struct"),
        ("Point", "impl"),
        ("Point.fmt", "method"),
        ("Shape", "trait"),
        ("Shape.name", "method"),
        ("point", "module"),
        ("geometry.origin", "function"),
    ]
    point = block(doc, "Point")
    assert point.text.startswith("/// A point in the plane.\n#[derive(Debug, Clone)]\npub struct")
    assert point.symbol is not None and point.symbol.docstring == "A point in the plane."
    fmt = sym(doc, "Point.fmt")
    assert fmt.docstring == "Formats the point." and fmt.comments == "just x"
    assert fmt.signature == "fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result"
    assert "fn area" in block(doc, "Shape").text


def test_java_classes_constructors_annotations_and_nested_types() -> None:
    source = """\
    package com.example;

    import java.util.Map;

    /**
     * A cache of entries.
     */
    public class Cache<K> {
        private final Map<K, String> store;

        /** Creates an empty cache. */
        public Cache() { this.store = null; }

        // Removes one key.
        @Override
        public void invalidate(K key) throws Exception {
            store.remove(key);
        }

        interface Listener { void onEvict(String key); }

        enum Mode {
            LRU, FIFO;

            boolean bounded() { return true; }
        }
    }
    """
    doc = parse("Cache.java", source)

    assert symbols(doc) == [
        ("Cache", "module"),
        ("Cache", "class"),
        ("Cache.Cache", "method"),
        ("Cache.invalidate", "method"),
        ("Cache.Listener", "interface"),
        ("Cache.Mode", "enum"),
        ("Cache.Mode.bounded", "method"),
    ]
    invalidate = sym(doc, "Cache.invalidate")
    assert invalidate.signature == "@Override public void invalidate(K key) throws Exception"
    assert invalidate.docstring == "Removes one key."
    assert sym(doc, "Cache").docstring == "A cache of entries."
    assert sym(doc, "Cache.Cache").docstring == "Creates an empty cache."
    mode_start = doc.text.index("    enum Mode")
    mode_end = doc.text.index("    }\n}") + 5
    assert block(doc, "Cache.Mode.bounded").parent == (mode_start, mode_end)
    assert block(doc, "Cache.Mode.bounded").text.endswith("}\n    }\n}")


def test_c_functions_structs_and_typedefs() -> None:
    source = """\
    #include <stdio.h>

    /* A point. */
    struct point {
        int x;
    };

    typedef struct {
        int y;
    } vec_t;

    // Adds two numbers.
    static int *add(int a, int b) {
        // sum
        return 0;
    }

    int declared(void);
    """
    doc = parse("math.c", source)

    assert symbols(doc) == [
        ("math", "module"),
        ("point", "struct"),
        ("vec_t", "struct"),
        ("add", "function"),
        ("math", "module"),
    ]
    assert block(doc, "point").text.endswith("};")
    add = sym(doc, "add")
    assert (add.signature, add.docstring, add.comments) == (
        "static int *add(int a, int b)", "Adds two numbers.", "sum"
    )


def test_cpp_namespaces_templates_and_out_of_class_methods() -> None:
    source = """\
    #include <string>

    namespace app {

    /// A cache.
    template <typename T>
    class Cache {
    public:
        int size = 0;
        /// Drops a key.
        void invalidate(const std::string& key) {
            size = 0;
        }
        ~Cache() {}
    };

    void Cache::reset() {
        size = 0;
    }

    const std::string& Cache::label() const {
        return label_;
    }

    }  // namespace app
    """
    doc = parse("cache.hpp", source)

    assert symbols(doc) == [
        ("cache", "module"),
        ("app.Cache", "class"),
        ("app.Cache.invalidate", "method"),
        ("app.Cache.~Cache", "method"),
        ("app.Cache.reset", "method"),
        ("app.Cache.label", "method"),
    ]
    assert sym(doc, "app.Cache").signature == "template <typename T> class Cache"
    assert sym(doc, "app.Cache.invalidate").docstring == "Drops a key."
    assert block(doc, "app.Cache.~Cache").text.endswith("};")
    assert block(doc, "app.Cache.reset").parent is None
    assert block(doc, "app.Cache.reset").section == ("app", "Cache")
    assert sym(doc, "app.Cache.label").signature == "const std::string& Cache::label() const"
    assert block(doc, "app.Cache.label").text.endswith("}\n\n}  // namespace app")


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        (
            "cache.cs",
            """\
            namespace App.Core
            {
                /// A cache.
                public class Cache
                {
                    private int size;
                    public void Invalidate(string key) { size = 0; }
                }
            }
            """,
            [("cache", "module"), ("App.Core.Cache", "class"),
             ("App.Core.Cache.Invalidate", "method")],
        ),
        (
            "cache.rb",
            """\
            # A cache.
            class Cache < Base
              SIZE = 3

              # Drops a key.
              def invalidate(key)
                @store.delete(key)
              end
            end

            module Util
              def self.helper; end
            end
            """,
            [("Cache", "class"), ("Cache.invalidate", "method"), ("Util", "module"),
             ("Util.helper", "method")],
        ),
        (
            "cache.php",
            """\
            <?php
            /** A cache. */
            class Cache {
                private $size = 3;
                public function invalidate($key) { $this->size = 0; }
            }
            function helper() { return 1; }
            """,
            [("cache", "module"), ("Cache", "class"), ("Cache.invalidate", "method"),
             ("helper", "function")],
        ),
        (
            "Cache.kt",
            """\
            package app

            /** A cache. */
            class Cache(val n: Int) {
                private val size = 3
                fun invalidate(key: String) { println(key) }
                companion object {
                    fun create() = Cache(1)
                }
            }

            interface Shape { fun area(): Double }
            """,
            [("Cache", "module"), ("Cache", "class"), ("Cache.invalidate", "method"),
             ("Cache.Companion", "class"), ("Cache.Companion.create", "method"),
             ("Shape", "interface")],
        ),
    ],
)
def test_other_languages(name: str, source: str, expected: list[tuple[str, str]]) -> None:
    doc = parse(name, source)

    assert symbols(doc) == expected
    documented = [b for b in doc.blocks if b.symbol is not None and b.symbol.docstring]
    assert documented and documented[0].symbol is not None
    assert documented[0].symbol.docstring == "A cache."


def test_a_class_written_on_one_line_stays_one_block() -> None:
    doc = parse("Mode.java", "enum Mode { A, B; void m() {} }\n")

    [only] = doc.blocks
    assert only.symbol is not None and only.symbol.name == "Mode"
    assert only.symbol.kind == "enum" and len(only.statements) == 3


def test_ruby_end_and_brace_only_lines_join_the_block_before() -> None:
    doc = parse("cache.rb", "class Cache\n  def get\n    1\n  end\nend\n")

    assert block(doc, "Cache.get").text == "  def get\n    1\n  end\nend"


def test_code_view_describes_a_block_with_split_name_words() -> None:
    doc = parse("cache.py", PYTHON)
    method = block(doc, "Cache.invalidate")

    view = code_view(method.text, method.symbol, doc.path, doc.language)

    assert "python method Cache.invalidate: cache invalidate" in view
    assert "Drop ``key`` from the cache." in view
    assert split_identifier("Cache.invalidate") == ["cache", "invalidate"]


def test_parsing_is_thread_safe() -> None:
    expected = extract_blocks(textwrap.dedent(PYTHON), "python", "cache")
    results: list[list[Block]] = []

    def work() -> None:
        for _ in range(20):
            results.append(extract_blocks(textwrap.dedent(PYTHON), "python", "cache"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 80 and all(result == expected for result in results)


def test_a_two_thousand_line_file_yields_every_symbol() -> None:
    unit = textwrap.dedent('''\
        class Service{i}(Base):
            """Service {i}."""

            limit = {i}

            def handle(self, request, retries=3):
                # retry a few times
                for attempt in range(retries):
                    if request.ok:
                        return request.value
                raise RuntimeError("failed")


        def helper_{i}(x: int) -> int:
            y = x * 2
            return y + {i}


        ''')
    text = "import os\n\n\n" + "".join(unit.format(i=i) for i in range(112))
    assert text.count("\n") > 2000
    blocks = extract_blocks(text, "python", "big")
    assert len(blocks) == 1 + 3 * 112
