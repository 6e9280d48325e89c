"""The layers of ARCHITECTURE.md hold: no stage imports a layer above it or a sibling stage.

The contracts live in pyproject.toml (``[tool.importlinter]``); ``lint-imports`` prints the
offending import chain when one breaks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    script = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", script, "--no-cache", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_every_layer_imports_only_the_layers_below_it() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_stage_importing_a_higher_layer_breaks_the_contract(tmp_path: Path) -> None:
    """The check can fail: the same contracts over a copy with one upward import."""
    copy = tmp_path / "src"
    subprocess.run(["cp", "-r", str(ROOT / "src"), str(copy)], check=True)
    (copy / "lore" / "text" / "upward.py").write_text("import lore.api\n")
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
         "lint_imports_command()", "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "lore.text.upward -> lore.api" in result.stdout
