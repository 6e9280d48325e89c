"""JSON-ready records of lore's values, shared by ``--json`` output and the HTTP API."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from lore.types import Answer, Hit, Step

ShowPath = Callable[[str], str]
"""How a record shows a stored file path (the terminal shortens it; a server hides it)."""


def plain(value: Any) -> Any:
    """Dataclasses to JSON-ready dicts, tuples to lists, mappings kept."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def hit_record(hit: Hit, show_path: ShowPath = str) -> dict[str, Any]:
    record: dict[str, Any] = plain(hit)
    record["path"] = show_path(hit.path)
    return record


def answer_record(answer: Answer, show_path: ShowPath = str) -> dict[str, Any]:
    """Answer, citations (with support), sources and timings."""
    return {
        "question": answer.question, "answer": answer.text, "found": answer.found,
        "mode": answer.mode, "model": answer.model,
        "citations": [{"number": c.number, "start": c.start, "end": c.end,
                       "sentence": answer.text[c.sentence[0]:c.sentence[1]],
                       "support": round(c.support, 3), "inferred": c.inferred,
                       "written": c.written}
                      for c in answer.citations],
        "invalid_citations": list(answer.invalid_citations),
        "uncited_sentences": [answer.text[a:b] for a, b in answer.uncited],
        "sources": [_source_record(s, show_path) for s in answer.sources],
        "timings": plain(answer.timings),
        "strategy": answer.strategy,
        "steps": [step_record(step, show_path) for step in answer.steps],
        "model_calls": answer.model_calls, "model_tokens": answer.model_tokens,
    }


def step_record(step: Step, show_path: ShowPath = str) -> dict[str, Any]:
    """A strategy's step: what it did, and for a retrieval what it found (labels only)."""
    return {"kind": step.kind, "text": step.text, "seconds": round(step.seconds, 4),
            "calls": step.calls, "tokens": step.tokens,
            "hits": [{"path": show_path(h.path), "doc_key": h.doc_key, "title": h.title,
                      "chunk": h.chunk.id, "score": h.score} for h in step.hits]}


def _source_record(source: Any, show_path: ShowPath) -> dict[str, Any]:
    hit = source.passage.hit
    label = source.label.replace(hit.path, show_path(hit.path), 1)
    return {"number": source.number, "label": label, "path": show_path(hit.path),
            "doc_key": hit.doc_key, "title": hit.title, "chunk": hit.chunk.id,
            "start": source.passage.start,
            "end": source.passage.end, "prior": source.prior, "score": hit.score,
            "scores": dict(hit.scores), "text": source.passage.text}
