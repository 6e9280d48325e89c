"""How a model directory says its texts are written before they are tokenized.

Two files can say it: ``config_sentence_transformers.json``, whose ``prompts`` map holds the
text sentence-transformers puts before a query (``"query"``) and before a document
(``"document"``, or ``"passage"``), as e5's ``"query: "`` and ``"passage: "``; and
``normalization.json``, lore's character map for e5 (its reference engine's normalisation
table, ``lore.embed.e5``). A model trained from e5 carries both (``record_text_form``), so it
reads text as the model it came from did.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lore.errors import ConfigError

PROMPTS_FILE = "config_sentence_transformers.json"
NORMALIZATION_FILE = "normalization.json"
_PASSAGE_PROMPTS = ("document", "passage")


@dataclass(frozen=True)
class TextForm:
    """Prefixes and a character map, as a model directory records them."""

    query_prefix: str = ""
    passage_prefix: str = ""
    characters: dict[int, str] = field(default_factory=dict)
    """Codepoint -> replacement, applied to every text before tokenizing."""

    @property
    def normalize(self) -> Callable[[str], str] | None:
        table = self.characters
        return (lambda text: text.translate(table)) if table else None


def read_text_form(model_dir: Path) -> TextForm:
    """The prefixes and character map ``model_dir`` records; empty ones where it records none.

    Raises:
        ConfigError: one of the two files is there but is not the JSON it should be.
    """
    prompts = _read_json(model_dir / PROMPTS_FILE).get("prompts") or {}
    characters = _read_json(model_dir / NORMALIZATION_FILE)
    if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
        raise ConfigError(f"{model_dir / PROMPTS_FILE}: 'prompts' must map names to strings")
    passage = next((prompts[name] for name in _PASSAGE_PROMPTS if name in prompts), "")
    return TextForm(prompts.get("query", ""), passage,
                    {ord(key): str(value) for key, value in characters.items()})


def record_text_form(model_dir: Path, form: TextForm) -> None:
    """Write ``form`` into ``model_dir`` (a sentence-transformers directory just saved),
    keeping whatever else its ``config_sentence_transformers.json`` holds."""
    config = _read_json(model_dir / PROMPTS_FILE)
    prompts = dict(config.get("prompts") or {})
    prompts.update((name, text) for name, text in (("query", form.query_prefix),
                                                   ("document", form.passage_prefix)) if text)
    config["prompts"] = prompts
    (model_dir / PROMPTS_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    if form.characters:
        table = {chr(code): text for code, text in form.characters.items()}
        (model_dir / NORMALIZATION_FILE).write_text(json.dumps(table, ensure_ascii=False),
                                                    encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}); restore it from the model's "
                          "source") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object; restore it from the model's source")
    return data
