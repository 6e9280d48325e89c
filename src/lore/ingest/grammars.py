"""Per-language tables for code parsing: which tree-sitter nodes are symbols, and how to read them.

Adding a language is adding one :class:`Grammar` entry to :data:`GRAMMARS` (and its suffixes to
``lore.ingest.languages.LANGUAGE_BY_SUFFIX``). Node type names come from each grammar's
``node-types.json``; dump a parsed file with ``str(tree.root_node)`` to find them. Declarations
whose name or body is not in a ``name``/``body`` field get a small ``describe`` hook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from tree_sitter import Node
from tree_sitter_language_pack import SupportedLanguage


@dataclass(frozen=True, slots=True)
class Decl:
    """What one declaration node declares."""

    kind: str
    name: tuple[str, ...]
    """Name parts: ``("Cache", "decl")`` for C++ ``Cache::decl``, ``("Server", "Start")`` for Go."""
    body: Node | None


Describe = Callable[["Grammar", Node, Node], "Decl | None"]
"""(grammar, declaration node, outer node with wrappers) -> the declaration, or None to skip it."""


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True, slots=True)
class Grammar:
    """Which tree-sitter node types are symbols in one language, and how to read them."""

    grammar: SupportedLanguage
    symbols: Mapping[str, str]
    """Node type -> symbol kind; a ``function`` inside a container becomes a ``method``."""
    containers: frozenset[str] = frozenset()
    """Symbols whose nested functions and types get blocks of their own (classes, impls)."""
    wrappers: frozenset[str] = frozenset()
    """Nodes that wrap a declaration and belong to its span (decorators, ``export``, templates)."""
    scopes: frozenset[str] = frozenset()
    """Namespaces: qualify the names inside them but get no block of their own."""
    transparent: frozenset[str] = frozenset()
    """Nodes searched for declarations without adding a scope (``#ifdef``, enum bodies)."""
    comments: frozenset[str] = frozenset({"comment"})
    prefixes: frozenset[str] = frozenset()
    """Sibling nodes directly above a declaration that belong to it (Rust ``#[attributes]``)."""
    needs_body: frozenset[str] = frozenset()
    """Symbols that count only with a body (a C ``struct x`` use, a Java interface method)."""
    leaky: frozenset[str] = frozenset()
    """Nodes whose trailing comments belong to the next declaration (Kotlin's import list)."""
    name_types: frozenset[str] = frozenset()
    """Child node types holding the name, for grammars without a ``name`` field (Kotlin)."""
    body_types: frozenset[str] = frozenset()
    """Child node types holding the body, for grammars without a ``body`` field (Kotlin)."""
    closers: frozenset[bytes] = frozenset()
    """Keywords that close a scope, like ``}`` does (Ruby ``end``)."""
    package: str = ""
    """Node type naming the package that qualifies every name (Go ``package_clause``)."""
    docstrings: bool = False
    """The first string literal of a body is its docstring (Python)."""
    hooks: Mapping[str, Describe] = field(default_factory=dict)


def node_text(node: Node | None) -> str:
    return (node.text or b"").decode("utf-8", "surrogatepass") if node is not None else ""


def first_child(node: Node, types: Iterable[str]) -> Node | None:
    wanted = set(types)
    return next((c for c in node.named_children if c.type in wanted), None)


def _base_type(text: str) -> str:
    """``*Server`` -> ``Server``; ``Stack<T>`` -> ``Stack``; ``fmt::Formatter`` -> ``Formatter``."""
    words = re.findall(r"\w+", re.sub(r"<.*>|\[.*\]", "", text))
    return words[-1] if words else text


def body_of(g: Grammar, decl: Node) -> Node | None:
    body = decl.child_by_field_name("body")
    return body if body is not None else first_child(decl, g.body_types)


def _innermost_declarator(node: Node | None) -> Node | None:
    while node is not None:
        inner = node.child_by_field_name("declarator")
        if inner is None and node.type == "reference_declarator":  # C++ ``T& name()``
            inner = node.named_children[0] if node.named_children else None
        if inner is None:
            return node
        node = inner
    return None


def _name(g: Grammar, decl: Node, outer: Node) -> tuple[str, ...]:
    node = decl.child_by_field_name("name")
    if node is None:  # C family: int *name(...) nests the name in declarators
        node = _innermost_declarator(decl.child_by_field_name("declarator"))
    if node is None:
        node = first_child(decl, g.name_types)
    if node is None and outer is not decl:  # typedef struct { ... } name;
        node = outer.child_by_field_name("declarator")
    parts = tuple(p for p in node_text(node).split("::") if p)
    return parts or ("anonymous",)


def describe(g: Grammar, decl: Node, outer: Node) -> Decl | None:
    body = body_of(g, decl)
    if body is None and decl.type in g.needs_body:
        return None
    return Decl(g.symbols[decl.type], _name(g, decl, outer), body)


def _describe_js_variable(g: Grammar, decl: Node, outer: Node) -> Decl | None:
    """``const add = (a, b) => a + b`` declares a function; ``const x = 1`` declares nothing."""
    declarators = [c for c in decl.named_children if c.type == "variable_declarator"]
    if len(declarators) != 1:
        return None
    value = declarators[0].child_by_field_name("value")
    if value is None or value.type not in _JS_FUNCTIONS:
        return None
    name = node_text(declarators[0].child_by_field_name("name"))
    return Decl("function", (name,), value.child_by_field_name("body"))


def _describe_go_method(g: Grammar, decl: Node, outer: Node) -> Decl | None:
    """``func (s *Server) Start()`` is ``Server.Start``."""
    receiver = first_child(decl.child_by_field_name("receiver") or decl, ["parameter_declaration"])
    type_node = receiver.child_by_field_name("type") if receiver is not None else None
    name = node_text(decl.child_by_field_name("name"))
    parts = (_base_type(node_text(type_node)), name) if type_node is not None else (name,)
    return Decl("method", parts, decl.child_by_field_name("body"))


def _describe_go_type(g: Grammar, decl: Node, outer: Node) -> Decl | None:
    spec = first_child(decl, ["type_spec", "type_alias"])
    if spec is None:
        return None
    type_node = spec.child_by_field_name("type")
    kind = _GO_TYPE_KINDS.get(type_node.type if type_node is not None else "", "type")
    body = first_child(type_node, ["field_declaration_list"]) if type_node is not None else None
    return Decl(kind, (node_text(spec.child_by_field_name("name")),), body)


def _describe_rust_impl(g: Grammar, decl: Node, outer: Node) -> Decl | None:
    """``impl<T> fmt::Display for Stack<T>`` is named after its type: ``Stack``."""
    name = _base_type(node_text(decl.child_by_field_name("type")))
    return Decl("impl", (name,), decl.child_by_field_name("body"))


def _describe_kotlin_class(g: Grammar, decl: Node, outer: Node) -> Decl | None:
    found = describe(g, decl, outer)
    if found is not None and any(c.type == "interface" for c in decl.children):
        return replace(found, kind="interface")
    return found


def _describe_kotlin_companion(g: Grammar, decl: Node, outer: Node) -> Decl | None:
    found = describe(g, decl, outer)
    if found is not None and found.name == ("anonymous",):
        return replace(found, name=("Companion",))
    return found


_JS_FUNCTIONS = _names("arrow_function function_expression function generator_function")
_GO_TYPE_KINDS = {"struct_type": "struct", "interface_type": "interface"}
_JS_SYMBOLS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "method_definition": "function",
    "lexical_declaration": "function",
    "variable_declaration": "function",
}
_JS_HOOKS: Mapping[str, Describe] = {
    "lexical_declaration": _describe_js_variable,
    "variable_declaration": _describe_js_variable,
}
_TS_SYMBOLS = {
    **_JS_SYMBOLS,
    "abstract_class_declaration": "class",
    "interface_declaration": "interface",
    "enum_declaration": "enum",
    "type_alias_declaration": "type",
}
_C_TYPES = {"struct_specifier": "struct", "union_specifier": "struct", "enum_specifier": "enum"}
_C_SEARCH = _names("preproc_ifdef preproc_if preproc_else preproc_elif linkage_specification")


def _typescript(grammar: SupportedLanguage) -> Grammar:
    return Grammar(
        grammar,
        _TS_SYMBOLS,
        containers=_names("class_declaration abstract_class_declaration"),
        wrappers=_names("export_statement ambient_declaration"),
        scopes=_names("internal_module module"),
        transparent=_names("expression_statement ambient_declaration"),
        hooks=_JS_HOOKS,
    )


GRAMMARS: dict[str, Grammar] = {
    "python": Grammar(
        "python",
        {"function_definition": "function", "class_definition": "class"},
        containers=_names("class_definition"),
        wrappers=_names("decorated_definition"),
        docstrings=True,
    ),
    "javascript": Grammar(
        "javascript",
        _JS_SYMBOLS,
        containers=_names("class_declaration"),
        wrappers=_names("export_statement"),
        hooks=_JS_HOOKS,
    ),
    "typescript": _typescript("typescript"),
    "tsx": _typescript("tsx"),
    "go": Grammar(
        "go",
        {"function_declaration": "function", "method_declaration": "method",
         "type_declaration": "type"},
        package="package_clause",
        hooks={"method_declaration": _describe_go_method, "type_declaration": _describe_go_type},
    ),
    "rust": Grammar(
        "rust",
        {"function_item": "function", "struct_item": "struct", "union_item": "struct",
         "enum_item": "enum", "trait_item": "trait", "impl_item": "impl",
         "macro_definition": "macro"},
        containers=_names("impl_item trait_item"),
        scopes=_names("mod_item"),
        comments=_names("line_comment block_comment"),
        prefixes=_names("attribute_item"),
        hooks={"impl_item": _describe_rust_impl},
    ),
    "java": Grammar(
        "java",
        {"class_declaration": "class", "interface_declaration": "interface",
         "enum_declaration": "enum", "record_declaration": "class",
         "annotation_type_declaration": "interface", "method_declaration": "function",
         "constructor_declaration": "function"},
        containers=_names("class_declaration interface_declaration enum_declaration"
                          " record_declaration"),
        transparent=_names("enum_body_declarations"),
        comments=_names("line_comment block_comment"),
        needs_body=_names("method_declaration"),
    ),
    "c": Grammar(
        "c",
        {"function_definition": "function", **_C_TYPES},
        wrappers=_names("type_definition"),
        transparent=_C_SEARCH | {"declaration_list"},
        needs_body=frozenset(_C_TYPES),
    ),
    "cpp": Grammar(
        "cpp",
        {"function_definition": "function", "class_specifier": "class", **_C_TYPES},
        containers=_names("class_specifier struct_specifier union_specifier"),
        wrappers=_names("type_definition template_declaration"),
        scopes=_names("namespace_definition"),
        transparent=_C_SEARCH | {"declaration_list"},
        needs_body=frozenset(_C_TYPES) | {"class_specifier"},
    ),
    "csharp": Grammar(
        "csharp",
        {"class_declaration": "class", "struct_declaration": "struct",
         "interface_declaration": "interface", "enum_declaration": "enum",
         "record_declaration": "class", "method_declaration": "function",
         "constructor_declaration": "function", "destructor_declaration": "function"},
        containers=_names("class_declaration struct_declaration interface_declaration"
                          " record_declaration"),
        scopes=_names("namespace_declaration"),
        needs_body=_names("method_declaration"),
    ),
    "ruby": Grammar(
        "ruby",
        {"method": "function", "singleton_method": "function", "class": "class",
         "module": "module"},
        containers=_names("class module"),
        closers=frozenset({b"end"}),
    ),
    "php": Grammar(
        "php",
        {"function_definition": "function", "class_declaration": "class",
         "interface_declaration": "interface", "trait_declaration": "trait",
         "enum_declaration": "enum", "method_declaration": "function"},
        containers=_names("class_declaration interface_declaration trait_declaration"
                          " enum_declaration"),
        scopes=_names("namespace_definition"),
        needs_body=_names("method_declaration"),
    ),
    "kotlin": Grammar(
        "kotlin",
        {"class_declaration": "class", "object_declaration": "class",
         "companion_object": "class", "function_declaration": "function"},
        containers=_names("class_declaration object_declaration companion_object"),
        comments=_names("line_comment multiline_comment"),
        needs_body=_names("function_declaration"),
        leaky=_names("package_header import_list"),
        name_types=_names("simple_identifier type_identifier"),
        body_types=_names("class_body function_body enum_class_body"),
        hooks={"class_declaration": _describe_kotlin_class,
               "companion_object": _describe_kotlin_companion},
    ),
}

