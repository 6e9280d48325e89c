"""``lore eval qa``: ask a QA set's questions against a knowledge base of its corpus and score
the answers (``lore.eval.answer_scores``), keeping a trace of every question.

Only a question's text reaches the system. Gold documents are read for one purpose: the
``gold_context`` reference run, which hands the model the gold paragraph instead of retrieved
ones to measure what the model can do when retrieval is perfect.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePath

from lore.api import KnowledgeBase
from lore.config import GenerateConfig, QueryConfig, StrategyName
from lore.errors import ConfigError
from lore.eval.answer_scores import Language, answer_in_context, exact_match, f1
from lore.eval.qa import QARecord, QASet
from lore.generate.citations import MARKER
from lore.rag_training import trained_questions
from lore.records import step_record
from lore.train.catalog import trained_name
from lore.train.qa_split import overlap
from lore.types import Answer, Chunk, Hit, Passage


@dataclass(frozen=True, slots=True)
class QATrace:
    """One question's run: what was retrieved, what the model read and said, its scores."""

    id: str
    question: str
    answer: Answer
    prediction: str
    record: QARecord


def prediction_of(answer: Answer) -> str:
    """The answer as scored: citation markers removed, first line only, trailing full stop
    dropped (``short`` answers are one phrase; models sometimes add an explanation after)."""
    text = MARKER.sub("", answer.text).strip()
    first = text.splitlines()[0] if text else ""
    return first.strip().rstrip(".。").strip()


def run_qa(kb: KnowledgeBase, qa: QASet, settings: GenerateConfig,
           advance: Callable[[], None] = lambda: None, gold_context: bool = False,
           corpus: Path | None = None, strategy: StrategyName | None = None,
           planning: QueryConfig | None = None) -> Iterator[QATrace]:
    """Answer every question of ``qa`` and score it, one trace at a time.

    Args:
        gold_context: answer from the gold documents (read from ``corpus``) instead of
            retrieved ones: the reference for what retrieval costs.
    """
    if gold_context and not qa.gold_docs:
        raise ConfigError(f"--gold-context needs gold documents: the lines of {qa.name}'s "
                          "qa.jsonl carry no doc_id or gold_doc_ids")
    check_unseen(kb, qa, settings.model)
    golds_text = _gold_texts(qa, corpus) if gold_context and corpus else {}
    answerer = kb.answerer(answering(kb, settings))  # loads the model before any timing
    for item in qa.items:
        started = time.perf_counter()
        if gold_context:
            passages = [_gold_passage(key, *golds_text[key])
                        for key in qa.gold_docs.get(item.id, []) if key in golds_text]
            answer = _last(answerer.stream(item.question, passages, started))
        else:
            answer = kb.ask(item.question, settings=settings, strategy=strategy,
                            planning=planning)
        yield _scored(item.id, item.question, answer, qa)
        advance()


def answering(kb: KnowledgeBase, settings: GenerateConfig) -> GenerateConfig:
    """``settings`` with a trained RAG system's answering model in place of its spec."""
    if trained_name(settings.model) is None:
        return settings
    return replace(settings, model=kb.rag_system(settings.model).generator)


def check_unseen(kb: KnowledgeBase, qa: QASet, model: str) -> None:
    """Refuse to measure a trained RAG system on questions it was trained on."""
    if trained_name(model) is None:
        return
    seen = overlap(trained_questions(kb.rag_system(model).model),
                   (item.question for item in qa.items))
    if seen:
        raise ConfigError(f"{len(seen)} of {qa.name}'s {len(qa.items)} questions were trained "
                          f"on by {model}, the first {seen[0]!r}; measure it on questions it "
                          "never saw (--split test)")


def write_qa_traces(traces: list[QATrace], path: Path) -> None:
    """JSON lines: per question its hits, prompt, answer, citations and scores."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for trace in traces:
            answer = trace.answer
            out.write(json.dumps({
                "id": trace.id, "question": trace.question, "prediction": trace.prediction,
                "answer": answer.text, "found": answer.found, "mode": answer.mode,
                "sources": [{"number": s.number, "doc_key": s.passage.hit.doc_key,
                             "score": s.passage.hit.score, "scores": dict(s.passage.hit.scores),
                             "prior": s.prior} for s in answer.sources],
                "citations": [{"number": c.number, "inferred": c.inferred,
                               "support": c.support, "written": c.written}
                              for c in answer.citations],
                "invalid_citations": list(answer.invalid_citations),
                "prompt": answer.prompt,
                "strategy": answer.strategy,
                "steps": [step_record(step, lambda path: PurePath(path).name)
                          for step in answer.steps],  # file names: traces are shared
                "model_calls": answer.model_calls, "model_tokens": answer.model_tokens,
                "timings": {"first_token": answer.timings.first_token,
                            "total": answer.timings.total,
                            "prompt_tokens": answer.timings.prompt_tokens},
                "scores": {"exact_match": trace.record.exact_match, "f1": trace.record.f1,
                           "answer_in_context": trace.record.answer_in_context,
                           "citation_precision": trace.record.citation_precision,
                           "shown_citation_precision":
                               trace.record.shown_citation_precision,
                           "all_gold_read": trace.record.all_gold_read,
                           "all_gold_retrieved": trace.record.all_gold_retrieved},
            }, ensure_ascii=False) + "\n")


def _scored(qid: str, question: str, answer: Answer, qa: QASet) -> QATrace:
    golds = qa.gold[qid]
    prediction = prediction_of(answer) if answer.found else ""
    context = "\n".join(source.passage.text for source in answer.sources)
    record = QARecord(
        id=qid, exact_match=exact_match(prediction, golds, qa.language),
        f1=f1(prediction, golds, qa.language),
        answer_in_context=answer_in_context(context, golds, qa.language),
        citation_precision=citation_precision(answer, golds, qa.language, written_only=True),
        not_found=not answer.found,
        first_token_s=answer.timings.first_token if answer.found else None,
        total_s=answer.timings.total,
        shown_citation_precision=citation_precision(answer, golds, qa.language,
                                                    written_only=False),
        strategy=answer.strategy, model_calls=answer.model_calls,
        model_tokens=answer.model_tokens, **gold_found(answer, qa.gold_docs.get(qid, [])))
    return QATrace(qid, question, answer, prediction, record)


def gold_found(answer: Answer, gold_docs: list[str]) -> dict[str, bool | None]:
    """Whether every gold document is among the sources read, and among every hit retrieved
    on the way (by document key, as BEIR corpora name them)."""
    if not gold_docs:
        return {"all_gold_read": None, "all_gold_retrieved": None}
    read = {s.passage.hit.doc_key for s in answer.sources}
    retrieved = read | {hit.doc_key for step in answer.steps for hit in step.hits}
    wanted = set(gold_docs)
    return {"all_gold_read": wanted <= read, "all_gold_retrieved": wanted <= retrieved}


def citation_precision(answer: Answer, golds: list[str], language: Language,
                       written_only: bool) -> float | None:
    """Share of the sources the answer cites (each counted once) that hold a gold answer;
    ``written_only`` counts only the citations the model wrote, as it wrote them: not those
    lore inferred, and a moved one by its written number. None when there is nothing to
    count."""
    cited = ({c.written or c.number for c in answer.citations if not c.inferred}
             if written_only else {c.number for c in answer.citations})
    by_number = {s.number: s.passage.text for s in answer.sources}
    holding = [answer_in_context(by_number[n], golds, language) for n in cited
               if n in by_number]
    return sum(holding) / len(holding) if holding else None


def _gold_texts(qa: QASet, corpus: Path) -> dict[str, tuple[str, str]]:
    wanted = {key for keys in qa.gold_docs.values() for key in keys}
    found: dict[str, tuple[str, str]] = {}
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                if record["_id"] in wanted:
                    found[record["_id"]] = (record.get("title", ""), record["text"])
    return found


def _gold_passage(key: str, title: str, text: str) -> Passage:
    chunk = Chunk(doc_id=key, text=text, start=0, end=len(text), view=text)
    return Passage(Hit(chunk=chunk, score=0.0, source="lexical", path=key, title=title,
                       doc_key=key), text, 0, len(text))


def _last(events: Iterator[str | Answer]) -> Answer:
    answer = None
    for event in events:
        if isinstance(event, Answer):
            answer = event
    assert answer is not None
    return answer
