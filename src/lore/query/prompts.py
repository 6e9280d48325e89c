"""The prompts query strategies send to the model, in the question's language, and the
parsing of what comes back.

A planning prompt is a system instruction, its worked examples as earlier turns of the
conversation, and one user turn ending in the instruction: small models follow an
instruction best when it comes last, and copy an example written into the instruction
itself (``lore.generate.prompt`` found the same for answers). Examples are invented, so no
benchmark text leaks in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from lore.generate.prompt import question_language
from lore.generate.protocol import Message

SYSTEM = {
    "en": "You help a search engine find passages that answer questions.",
    "zh": "你帮助搜索引擎找到能回答问题的段落。",
}


@dataclass(frozen=True)
class PlanPrompt:
    """An instruction by language (``{question}`` and the caller's fields filled in) and, by
    language, worked examples: (question, the reply wanted)."""

    instruction: dict[str, str]
    examples: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


REWRITE = PlanPrompt({
    "en": "Write {n} different search queries for finding passages that answer the question "
          "\"{question}\". Use other words than the question does. Write one query per line "
          "and nothing else.",
    "zh": "为问题“{question}”写 {n} 个不同的搜索查询，用于查找能回答它的段落。换用与问题不同的"
          "说法。每行写一个查询，不要写别的。",
})
HYDE = PlanPrompt({
    "en": "Write a short passage of two or three sentences, as an encyclopedia would, that "
          "answers the question \"{question}\". Write only the passage.",
    "zh": "像百科全书那样，写一段两三句话的短文回答问题“{question}”。只写这段短文。",
})
STEP_BACK = PlanPrompt({
    "en": "Write the more general question behind the question \"{question}\": the "
          "background a passage would need to give to answer it. Write only that question.",
    "zh": "写出问题“{question}”背后更一般的问题，也就是回答它所需要的背景。只写这个问题。",
}, {
    "en": (("Which river flows through the town where Mira Holt was born?",
            "What is known about Mira Holt's life and birthplace?"),),
    "zh": (("米拉·霍尔特出生的小镇有哪条河流经？", "米拉·霍尔特的生平和出生地是什么？"),),
})
DECOMPOSE = PlanPrompt({
    "en": "Split the question \"{question}\" into at most {n} simple questions, each "
          "answerable from one passage, in the order they must be answered. Write one per "
          "line. A question that is already simple is written once, unchanged.",
    "zh": "把问题“{question}”拆成最多 {n} 个简单问题，每个都能从一个段落中回答，按回答的先后"
          "顺序排列。每行写一个。已经简单的问题原样写一遍。",
}, {
    "en": (("In which country is the lake that supplies the town of Oster?",
            "Which lake supplies the town of Oster?\nIn which country is that lake?"),
           ("When was Vann Lake dammed?", "When was Vann Lake dammed?")),
    "zh": (("为奥斯特镇供水的湖在哪个国家？", "哪个湖为奥斯特镇供水？\n那个湖在哪个国家？"),
           ("瓦恩湖是哪一年修建水坝的？", "瓦恩湖是哪一年修建水坝的？")),
})
REASON_SYSTEM = {
    "en": "You answer a question step by step from the sources. Each turn, write only the "
          "next sentence of reasoning, using a fact from the sources. When the sources "
          "answer the question, write \"So the answer is: \" and the answer.",
    "zh": "你根据资料一步一步回答问题。每次只写下一句推理，用上资料中的一个事实。当资料已经能回答"
          "问题时，写“所以答案是：”和答案。",
}
REASON = {
    "en": "Sources:\n{sources}\n\nQuestion: {question}\nReasoning so far: {reasoning}\n"
          "Next sentence:",
    "zh": "资料：\n{sources}\n\n问题：{question}\n已有的推理：{reasoning}\n下一句：",
}
ANSWER_MARK = {"en": "so the answer is", "zh": "所以答案是"}
REPHRASE = PlanPrompt({
    "en": "A search for the question \"{question}\" found nothing that answers it. Write the "
          "question again as a search query, with other words and any names it implies. "
          "Write only the query.",
    "zh": "搜索问题“{question}”没有找到能回答它的内容。请换一种说法，把它改写成一个搜索查询，"
          "补上它暗含的名称。只写这个查询。",
})


CLAIMS_SYSTEM = {
    "en": "You read sources and note what each one says that bears on a question.",
    "zh": "你阅读资料，记下每份资料中与问题有关的内容。",
}
CLAIMS = {
    "en": "Sources:\n{sources}\n\nFor the question \"{question}\", write one short sentence "
          "for each source saying what it tells, and end the sentence with the source's number "
          "in square brackets, such as [{first}]. One sentence per line.",
    "zh": "资料：\n{sources}\n\n针对问题“{question}”，为每份资料写一句简短的话，说明它讲了什么，"
          "句末用方括号写出资料编号，例如 [{first}]。每行一句。",
}
"""LazyGraphRAG's map step: the claims of a few communities' chunks, each citing its chunk by
the number it will have in the answer's sources."""


def claims_messages(question: str, sources: Sequence[tuple[int, str, str]]) -> list[Message]:
    """The map step's prompt over (number, title, text) sources."""
    language = question_language(question)
    shown = "\n\n".join(f"[{number}] {title}\n{text}" for number, title, text in sources)
    first = sources[0][0] if sources else 1
    return [Message("system", CLAIMS_SYSTEM[language]),
            Message("user", CLAIMS[language].format(sources=shown, question=question.strip(),
                                                    first=first))]


def planning_messages(question: str, prompt: PlanPrompt, **fields: object) -> list[Message]:
    """The system instruction, the worked examples as earlier turns, and the user turn, all
    in the question's language."""
    language = question_language(question)
    instruction = prompt.instruction[language]
    turns = [Message("system", SYSTEM[language])]
    for asked, reply in prompt.examples.get(language, ()):
        turns += [Message("user", instruction.format(question=asked, **fields)),
                  Message("assistant", reply)]
    turns.append(Message("user", instruction.format(question=question.strip(), **fields)))
    return turns


REASON_EXAMPLE = {
    "en": (("The cache sweeper was written by Ada Park in 2019.",
            "Ada Park is an engineer born in Oslo."),
           "Where was the author of the cache sweeper born?",
           ("The cache sweeper was written by Ada Park.", "Ada Park was born in Oslo.",
            "So the answer is: Oslo.")),
    "zh": (("缓存清理程序由艾达·帕克于2019年编写。", "艾达·帕克是一名出生于奥斯陆的工程师。"),
           "缓存清理程序的作者出生在哪里？",
           ("缓存清理程序是艾达·帕克编写的。", "艾达·帕克出生于奥斯陆。", "所以答案是：奥斯陆。")),
}
"""A worked chain, shown as earlier turns: a small model told only the rule states an
answer at once; shown a chain, it first writes the fact that links the question to it."""


def reasoning_messages(question: str, sources: Sequence[str], reasoning: Sequence[str]
                       ) -> list[Message]:
    """IRCoT's prompt: the worked chain, then the sources so far, the question and the
    reasoning so far. The fixed turns and the sources come first, so each hop's prompt
    starts with the last one's and a local model reuses its cache."""
    language = question_language(question)
    shown, asked, chain = REASON_EXAMPLE[language]
    turns = [Message("system", REASON_SYSTEM[language])]
    for step in range(len(chain)):
        turns.append(Message("user", _reason_turn(language, shown, asked, chain[:step])))
        turns.append(Message("assistant", chain[step]))
    turns.append(Message("user", _reason_turn(language, sources, question, reasoning)))
    return turns


def _reason_turn(language: str, sources: Sequence[str], question: str,
                 reasoning: Sequence[str]) -> str:
    numbered = "\n\n".join(f"[{i}] {text}" for i, text in enumerate(sources, start=1))
    so_far = " ".join(reasoning) or ("(none)" if language == "en" else "（无）")
    return REASON[language].format(sources=numbered, question=question.strip(),
                                   reasoning=so_far)


_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)、]|[（(]?\d+[)）])\s*")
_LABEL = re.compile(r"^\s*(?:query|question|查询|问题)\s*\d*\s*[:：]\s*", re.IGNORECASE)


def lines_of(text: str, limit: int, question: str = "") -> list[str]:
    """Up to ``limit`` distinct non-empty lines of a model's list, bullets, numbers and
    labels stripped, the question itself left out."""
    seen = {question.strip().lower()}
    kept: list[str] = []
    for line in text.splitlines():
        clean = _LABEL.sub("", _BULLET.sub("", line)).strip().strip('"“”')
        if clean and clean.lower() not in seen:
            seen.add(clean.lower())
            kept.append(clean)
    return kept[:limit]


def final_answer(sentence: str) -> str | None:
    """The answer in an IRCoT sentence that states one ("So the answer is: X"), else None."""
    lowered = sentence.lower()
    for mark in ANSWER_MARK.values():
        at = lowered.find(mark)
        if at >= 0:
            return sentence[at + len(mark):].strip(" :：.。") or None
    return None


def without_mark(sentence: str) -> str:
    """The sentence with its "So the answer is:" taken out, to search with."""
    answer = final_answer(sentence)
    return answer if answer is not None else sentence
