"""Build a ``Generator`` from a spec: a GGUF model name or path, ``openai:<url>/<model>``, or
``scripted``, the shipped test fake (``lore.testing.fakes.SCRIPTED``, which a test scripts
before it drives the command line or the server).

>>> create_generator(GenerateConfig(), "scripted").name
'scripted'
"""

from __future__ import annotations

import threading

from lore.config import GenerateConfig
from lore.generate.protocol import Generator

REMOTE_PREFIX = "openai:"
SCRIPTED = "scripted"
"""The spec of the shared ``lore.testing.fakes.ScriptedGenerator``: no model, scripted answers."""

_cache: dict[tuple[str, int, str, float, int | None], Generator] = {}
_lock = threading.Lock()


def create_generator(settings: GenerateConfig, spec: str | None = None) -> Generator:
    """The generator ``spec`` names (default ``settings.model``), built once per process.

    Examples: ``qwen-0.5b``, ``qwen-1.5b``, ``smollm2``, ``/models/any.gguf``,
    ``openai:http://localhost:11434/v1/qwen2.5:7b``, ``scripted``.
    """
    spec = spec or settings.model
    key = (spec, settings.context_tokens, settings.api_key_env, settings.timeout,
           settings.threads)
    with _lock:
        if key not in _cache:
            _cache[key] = _build(spec, settings)
        return _cache[key]


def _build(spec: str, settings: GenerateConfig) -> Generator:
    if spec == SCRIPTED:
        from lore.testing.fakes import SCRIPTED as shared

        return shared
    if spec.startswith(REMOTE_PREFIX):
        from lore.generate.openai import OpenAIGenerator, parse_spec

        base_url, model = parse_spec(spec)
        return OpenAIGenerator(base_url, model, api_key_env=settings.api_key_env,
                               context_tokens=settings.context_tokens,
                               timeout=settings.timeout)
    from lore.generate.local import LocalGenerator

    return LocalGenerator(spec, context_tokens=settings.context_tokens,
                          threads=settings.threads)
