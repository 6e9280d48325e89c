"""Synthetic training questions: the local model writes a question for each sampled chunk, in
the chunk's language, and a question is kept only when lore's own search finds its chunk
among the first results (round-trip filtering).

After InPars (Bonifacio et al., 2022) and Promptagator (Dai et al., 2022), which generate
queries from documents with a language model and keep those whose source the retriever
ranks high. Greedy decoding makes a run repeatable: the same chunks, model and seed give the
same questions. Each question is appended to a JSONL file as it is written, so an interrupted
run resumes without asking the model again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lore.generate.protocol import Generator, Message, Sampling
from lore.text.script import detect_language
from lore.train.pairs import Pair

PROMPTS = {
    "en": ("You write the questions people type into a search box.",
           "Passage:\n{passage}\n\nWrite one short question that this passage answers. "
           "Reply with the question only."),
    "zh": ("你为搜索框写问题。",
           "段落：\n{passage}\n\n写一个这段文字能够回答的简短问题。只回复问题本身。"),
}
"""(system, user) prompts by the chunk's language; other languages get English's."""
SAMPLING = Sampling(max_tokens=48, stop=("\n",))
PASSAGE_TOKENS = 384
"""A longer chunk is cut to this many of the model's tokens in the prompt."""
MIN_QUESTION_CHARS = 6
_PREFIX = re.compile(r"^\s*(?:question|q|问题)\s*[:：]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """A chunk to write a question for, and how search names it (``key``)."""

    key: str
    text: str


@dataclass(frozen=True)
class Written:
    """One chunk's outcome."""

    key: str
    question: str
    kept: bool
    reason: str = ""
    """Why a question was dropped: ``empty`` or ``not found``."""


@dataclass(frozen=True)
class SyntheticReport:
    pairs: tuple[Pair, ...]
    written: int
    kept: int
    dropped: dict[str, int]
    """Dropped questions by reason."""


Found = Callable[[str], Sequence[str]]
"""The keys of the chunks search returns for a question, best first (the first ``depth``)."""


def write_question(generator: Generator, text: str) -> str:
    """The model's question about ``text``, in ``text``'s language, one line, cleaned."""
    system, user = PROMPTS.get(detect_language(text), PROMPTS["en"])
    passage = _cut(generator, text)
    reply = "".join(generator.stream([Message("system", system),
                                      Message("user", user.format(passage=passage))], SAMPLING))
    return clean_question(reply)


def clean_question(reply: str) -> str:
    """The question in a model's reply: its first line, without a "Question:" label or
    quotes; empty when nothing like a question is left."""
    line = next((part for part in reply.strip().splitlines() if part.strip()), "")
    line = _PREFIX.sub("", line).strip().strip("\"'“”「」*").strip()
    return line if len(line) >= MIN_QUESTION_CHARS else ""


def synthesize(sources: Sequence[Source], generator: Generator, found: Found,
               journal: Path, progress: Callable[[int, Written], None] | None = None
               ) -> SyntheticReport:
    """A question for each source, kept when ``found`` returns the source for it.

    ``journal`` (JSONL) holds every outcome so far: a source already in it is not asked
    again, so a second run over the same sources costs only what the first did not finish.
    """
    done = dict(_read(journal))
    journal.parent.mkdir(parents=True, exist_ok=True)
    with journal.open("a", encoding="utf-8") as out:
        for number, source in enumerate(sources, start=1):
            outcome = done.get(source.key)
            if outcome is None:
                outcome = _judge(source, write_question(generator, source.text), found)
                out.write(json.dumps(outcome.__dict__, ensure_ascii=False) + "\n")
                out.flush()
                done[source.key] = outcome
            if progress is not None:
                progress(number, outcome)
    outcomes = [done[source.key] for source in sources]
    texts = {source.key: source.text for source in sources}
    dropped: dict[str, int] = {}
    for outcome in outcomes:
        if not outcome.kept:
            dropped[outcome.reason] = dropped.get(outcome.reason, 0) + 1
    pairs = tuple(Pair(o.question, texts[o.key], source=f"synthetic {o.key}")
                  for o in outcomes if o.kept)
    return SyntheticReport(pairs, len(outcomes), len(pairs), dropped)


def _judge(source: Source, question: str, found: Found) -> Written:
    if not question:
        return Written(source.key, question, False, "empty")
    if source.key not in found(question):
        return Written(source.key, question, False, "not found")
    return Written(source.key, question, True)


def _cut(generator: Generator, text: str) -> str:
    if generator.count_tokens(text) <= PASSAGE_TOKENS:
        return text
    share = PASSAGE_TOKENS / generator.count_tokens(text)
    return text[:max(1, int(len(text) * share))]


def _read(journal: Path) -> Iterator[tuple[str, Written]]:
    if not journal.is_file():
        return
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            record = Written(**json.loads(line))
        except (ValueError, TypeError):
            continue  # a line cut short by a crash: that chunk is asked again
        yield record.key, record
