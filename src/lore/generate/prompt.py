"""Every prompt lore sends to a model, as named templates, and packing sources into them.

A prompt is a system instruction, the template's worked examples (earlier turns of the
conversation, if it has any), then one user turn holding the numbered sources and the
question. The instruction and the examples come first and never change within a template and
language, so a local model evaluates them once and keeps them in its KV cache across
questions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath

from lore.errors import ConfigError
from lore.generate.protocol import Generator, Message
from lore.text.analyze import analyze
from lore.text.sentences import split_sentences
from lore.types import Passage, Source


@dataclass(frozen=True, slots=True)
class Example:
    """A worked question shown before the real one, as an earlier user turn (its sources and
    question, in the template's own format) and the assistant's answer to it."""

    sources: tuple[tuple[str, str], ...]
    """(title, text) of each source, numbered from 1."""
    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class Template:
    """A system instruction, how each source is headed, the closing instruction, and worked
    examples."""

    system: str
    source_header: str
    """Format of a source's first line; ``{number}`` and ``{title}`` are filled in."""
    closing: dict[str, str]
    """By question language (``en``, ``zh``); comes after the sources: small models follow
    an instruction best when it comes last (given only a system instruction, 0.5B models
    tend to copy the sources out)."""
    stop: tuple[str, ...] = ()
    """Where an answer in this template is over: a short answer ends with its line, a
    person's answer with its paragraph."""
    examples: dict[str, tuple[Example, ...]] = field(default_factory=dict)
    """By question language: worked examples, shown as earlier turns, where they were
    measured to help (see ``TEMPLATES``)."""
    copy: bool = False
    """The answer is a span copied from the sources (``lore.generate.spans``), for local
    models; a server writes freely."""


TEMPLATES: dict[str, Template] = {
    "answer": Template(
        system="You are a helpful assistant that answers questions from the provided sources "
               "and cites them.",
        source_header="[{number}] {title}",
        closing={
            "en": "Answer the question \"{question}\" directly in one to three sentences. "
                  "After each sentence put the number of the source that supports it in "
                  "square brackets, such as [1].",
            "zh": "请用一到三句话直接回答问题“{question}”。每句话后面用方括号写出支持它的资料"
                  "编号，例如 [1]。",
        },
        # One paragraph was asked for; past it, 0.5B models go on to retell the sources and
        # cite numbers that do not exist.
        stop=("\n\n",)),
    "short": Template(
        system="You are a helpful assistant that answers questions from the provided sources "
               "with a short phrase copied from them.",
        source_header="Source [{number}] ({title}):",
        closing={"en": "Question: {question}\nShort answer:",
                 "zh": "问题：{question}\n请用资料中的原文短语简短回答："},
        stop=("\n",),
        examples={
            "en": (
                Example((("Port Selby", "Port Selby is a fishing town on the east coast. Its "
                          "harbour was enlarged in 1962, and a ferry to the islands leaves "
                          "twice a day in summer."),
                         ("Vann Lake", "Vann Lake is a glacial lake in the northern hills. In "
                          "1911 a dam was built at its outlet to supply water to the town of "
                          "Oster, and today it also feeds a small power station. Every winter "
                          "the lake freezes for about three months.")),
                        "Why was a dam built at Vann Lake?",
                        "to supply water to the town of Oster"),
                Example((("Mira Holt", "Mira Holt was a chemist who studied the salts of rare "
                          "metals. She worked in Leeds early in her career, then moved to "
                          "Geneva, where she taught for twenty years and wrote two "
                          "textbooks."),
                         ("Geneva", "Geneva is a city in Switzerland on the shore of Lake "
                          "Geneva. Its university was founded in 1559.")),
                        "How long did Holt teach in Geneva?", "twenty years"),
            ),
            "zh": (
                Example((("瓦恩湖", "瓦恩湖是北部山区的一座冰川湖。1911年，人们在湖口修建水坝，"
                          "为奥斯特镇供水，如今它还为一座小型水电站供水。每年冬天，湖面封冻约"
                          "三个月。"),),
                        "人们为什么在瓦恩湖修建水坝？", "为奥斯特镇供水"),
                Example((("米拉·霍尔特", "米拉·霍尔特是一位研究稀有金属盐类的化学家。她早年"
                          "在利兹工作，后来移居日内瓦，在那里任教二十年，写了两本教科书。"),),
                        "霍尔特在日内瓦任教多久？", "二十年"),
            ),
        }),
}
"""Prompts by name: ``answer`` for people (sentences with citations), ``short`` for
extractive benchmarks (a span, scored by exact match and F1), and ``extract``, which is
``short`` with its answer copied from the sources. ``overview`` answers a question about a
whole collection (the ``global`` strategy) with a sentence per topic, as long as the answer's
token budget allows.

Closing instructions are written in the question's language, which is how the answer comes
back in it. ``short`` asks for no citation: 0.5B models asked for the span and its source
number write only the number, or copy a label, so lore attributes a short answer to the
source that holds it (``citations.attribute``). Worked examples are earlier turns of the
conversation, because an example answer written into an instruction gets copied by 0.5B
models. ``short`` shows two, invented so that no benchmark text leaks in, in the question's
language (in Chinese the answers then become the span instead of a sentence around it). Each
English one shows a source that does not answer beside the one that does, which is what made
examples help over retrieved sources rather than only over the gold paragraph; Chinese ones
show one source, as a distractor measured no better there. English examples cost HotpotQA,
whose answers need two paragraphs, some F1.

``extract`` answers with local models only what a source says word for word
(``lore.generate.spans``); a server writes freely. It is not the default because it measured
no better than ``short``: the answers ``short`` does not copy are mostly wrong in content,
not paraphrases of a right span, and copying cuts some answers short where the model's wording
leaves the source (``refuse``, where the source says ``refused to recant his writings``).

Each choice was measured with Qwen2.5-Coder-0.5B by ``benchmarks/qa.py``, for example
``--runs cmrc2018:150:stuff,cmrc2018:150:stuff:no-examples`` (the examples) and
``--runs squad:150:stuff:copy,cmrc2018:150:stuff:copy`` (``extract``); the numbers are in
docs/answers.md."""
TEMPLATES["extract"] = replace(TEMPLATES["short"], copy=True)
TEMPLATES["overview"] = replace(
    TEMPLATES["answer"],
    closing={
        "en": "Answer the question \"{question}\" from the notes and the sources: write one "
              "sentence for each topic they cover, most important first. After each sentence "
              "put the number of the source that supports it in square brackets, such as [1].",
        "zh": "请根据上面的信息和资料回答问题“{question}”：资料涉及的每个主题写一句话，重要的在前。"
              "每句话后面用方括号写出支持它的资料编号，例如 [1]。",
    },
    stop=())


OPENING = {"en": "Sources:\n", "zh": "资料：\n"}
"""Opens the user turn. The question comes only after the sources (in the closing): asked
before them too, it lowered ``short``'s F1 on SQuAD and CMRC 2018 (``benchmarks/qa.py`` runs;
docs/answers.md)."""
NOTES = {"en": "Found in earlier steps:\n", "zh": "前面步骤得到的信息：\n"}
"""Heads the notes a query strategy passes beside the sources (``lore.query``): what its
sub-questions found, each line citing its source by number."""
MIN_SOURCE_TOKENS = 32
"""A source cut shorter than this carries too little to answer from."""

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: tuple[Message, ...]
    sources: tuple[Source, ...]
    """The sources that fit, in prompt order."""
    tokens: int
    """Prompt size in the model's tokens (estimated for remote servers)."""


def question_language(question: str) -> str:
    """``zh`` when at least a fifth of the question's letters are Chinese characters."""
    letters = [c for c in question if c.isalpha()]
    if not letters:
        return "en"
    return "zh" if sum(1 for c in letters if _HAN.match(c)) / len(letters) >= 0.2 else "en"


def build_prompt(question: str, sources: Sequence[Source], generator: Generator,
                 answer_tokens: int, template: str = "answer",
                 source_tokens: int | None = None, notes: Sequence[str] = ()) -> Prompt:
    """Pack ``sources`` by rank into the model's context, minus ``answer_tokens``.

    ``notes`` (lines a query strategy learned in earlier steps) follow the sources, before
    the closing instruction, and are never cut.

    Each source is cut to ``source_tokens`` (default: no cap), and the last one that only
    partly fits is cut to what is left; sources after it are dropped. A cut keeps the
    sentences that best match the question (``excerpt_span``).

    Raises:
        ConfigError: the template is unknown, or not even one source fits the context.
    """
    chosen = template_named(template)
    language = question_language(question)
    preamble = (Message("system", chosen.system), *example_turns(chosen, language))
    ask = closing_text(question, chosen)
    if notes:
        ask = NOTES[language] + "\n".join(notes) + "\n\n" + ask
    opening = OPENING[language].format(question=question.strip())
    budget = (generator.context_tokens - answer_tokens - generator.count_tokens(ask)
              - sum(generator.count_tokens(m.content) + 8 for m in preamble)
              - generator.count_tokens(opening) - 24)  # chat template
    packed: list[Source] = []
    blocks: list[str] = []
    for source in sources:
        header = chosen.source_header.format(number=source.number, title=_title(source)) + "\n"
        room = budget - generator.count_tokens(header) - 2
        cap = room if source_tokens is None else min(room, source_tokens)
        if cap < MIN_SOURCE_TOKENS:
            break
        start, end = excerpt_span(source.passage.text, question, cap, generator)
        block = header + marked(source.passage.text, start, end)
        budget -= generator.count_tokens(block) + 2
        packed.append(narrowed(source, start, end))
        blocks.append(block)
    if sources and not packed:
        raise ConfigError(
            f"the model's context ({generator.context_tokens} tokens) cannot hold even one "
            f"source after the instruction, the question and {answer_tokens} answer tokens; "
            "raise generate.context_tokens or lower generate.answer_tokens")
    user = Message("user", _user_turn(opening, blocks, ask))
    messages = (*preamble, user)
    total = sum(generator.count_tokens(m.content) + 8 for m in messages)
    return Prompt(messages, tuple(packed), total)


def example_turns(template: Template, language: str) -> tuple[Message, ...]:
    """The template's worked examples for ``language`` as user and assistant turns, in the
    same format as the real question's turn."""
    turns: list[Message] = []
    for example in template.examples.get(language, ()):
        blocks = [template.source_header.format(number=number, title=title) + "\n" + text
                  for number, (title, text) in enumerate(example.sources, start=1)]
        opening = OPENING[language].format(question=example.question)
        ask = template.closing[language].format(question=example.question)
        turns += [Message("user", _user_turn(opening, blocks, ask)),
                  Message("assistant", example.answer)]
    return tuple(turns)


def _user_turn(opening: str, blocks: Sequence[str], ask: str) -> str:
    return opening + "\n\n".join(blocks) + f"\n\n{ask}"


def template_named(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ConfigError(f"unknown prompt template {name!r}; choose from "
                          f"{', '.join(sorted(TEMPLATES))}") from None


def closing_text(question: str, template: Template) -> str:
    return template.closing[question_language(question)].format(question=question.strip())


def excerpt_span(text: str, question: str, limit: int, generator: Generator
                 ) -> tuple[int, int]:
    """The span of ``text`` a prompt shows in ``limit`` tokens: all of it if it fits, else
    its sentence that best matches ``question`` (``sentence_scores``), then the sentence after
    it, then whole neighbouring sentences, the better-matching first, while they fit.

    A prefix cut loses an answer that sits late in a long passage; a window around the
    question's best sentence keeps it, so a source can be cut short (a shorter prompt, a
    faster first token) without losing what answers the question. The answer most often
    follows the sentence that restates the question. ``benchmarks/source_cut.py`` counts how
    often the cut keeps the answer of a SQuAD gold paragraph, against a cut to its first
    tokens (docs/answers.md).
    """
    if generator.count_tokens(text) <= limit:
        return 0, len(text)
    ellipsis = generator.count_tokens(" …")
    spans = split_sentences(text)
    scores = sentence_scores(question, [text[a:b] for a, b in spans])
    if len(spans) < 2 or not any(scores):
        return 0, prefix_length(text, limit - ellipsis, generator)
    sizes = [generator.count_tokens(text[a:b]) + 1 for a, b in spans]
    best = scores.index(max(scores))
    first, last = _grow(scores, sizes, best, limit - 2 * ellipsis)
    start = spans[first][0]
    return start, start + prefix_length(text[start:spans[last][1]], limit - 2 * ellipsis,
                                        generator)


def sentence_scores(question: str, sentences: Sequence[str]) -> list[float]:
    """How well each sentence matches the question: the question terms it holds, each
    weighted by how few of the sentences hold it (a term in every sentence, such as the
    passage's subject, says little about where the answer is)."""
    terms = set(analyze(question))
    held = [terms & set(analyze(sentence)) for sentence in sentences]
    weight = {term: math.log(1 + len(sentences) / (1 + sum(term in h for h in held)))
              for term in terms}
    # fsum is exactly rounded, so a score does not depend on the order of the set, which
    # follows the process's string hashing: equal scores tie in every process.
    return [math.fsum(weight[term] for term in h) for h in held]


def marked(text: str, start: int, end: int) -> str:
    """``text[start:end]`` with ``…`` on each side where text was left out."""
    return ("… " if start > 0 else "") + text[start:end] + (" …" if end < len(text) else "")


def narrowed(source: Source, start: int, end: int) -> Source:
    """``source`` with its passage cut to ``[start, end)`` of its text: a source stands for
    what the model read, so citations point there and evaluation checks it."""
    passage = source.passage
    if (start, end) == (0, len(passage.text)):
        return source
    cut = Passage(passage.hit, passage.text[start:end], passage.start + start,
                  passage.start + end)
    return replace(source, passage=cut)


def _grow(scores: list[float], sizes: list[int], best: int, limit: int) -> tuple[int, int]:
    """The sentence range ``[first, last]``: ``best``, the sentence after it, then the
    better-matching neighbour (the one before on a tie: it names what the sentence is
    about), while they fit in ``limit``."""
    first = last = best
    used = sizes[best]
    if best + 1 < len(sizes) and used + sizes[best + 1] <= limit:
        last, used = best + 1, used + sizes[best + 1]
    while True:
        options = [i for i in (first - 1, last + 1)
                   if 0 <= i < len(sizes) and used + sizes[i] <= limit]
        if not options:
            return first, last
        pick = max(options, key=lambda i: (scores[i], -i))
        used += sizes[pick]
        first, last = min(first, pick), max(last, pick)


def prefix_length(text: str, limit: int, generator: Generator) -> int:
    """Length of the longest prefix of ``text`` within ``limit`` tokens, cut at a word
    where possible, trailing space left out."""
    if generator.count_tokens(text) <= limit:
        return len(text.rstrip())
    low, high = 0, len(text)
    while low < high:  # binary search on characters: tokenizers are not invertible here
        middle = (low + high + 1) // 2
        if generator.count_tokens(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    space = text.rfind(" ", 0, low)
    return len(text[:space if space > low * 0.8 else low].rstrip())


def _title(source: Source) -> str:
    hit = source.passage.hit
    section = " > ".join(hit.chunk.section)
    # An untitled source goes by its file name: the model needs to tell sources apart, not
    # where files live (a server's paths would otherwise reach the model and its answers).
    title = hit.title or source.label.replace(hit.path, PurePath(hit.path).name, 1)
    return f"{title} ({section})" if section and section != title else title
