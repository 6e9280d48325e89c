"""The extraction and summary prompts, in the chunk's language. The instruction and a worked
example come first and the chunk last, so every call shares the same prefix (a local model
reuses its evaluated prompt up to the first difference). The example is invented, so no
benchmark text leaks in."""

from __future__ import annotations

from collections.abc import Sequence

from lore.generate.prompt import question_language
from lore.generate.protocol import Message
from lore.graph.knowledge import ENTITY_KINDS

VERSION = "1"
"""Changes when the prompts do: outputs of another version are read again."""

_KINDS = ", ".join(ENTITY_KINDS)
SYSTEM = {
    "en": "You extract a knowledge graph from a text. Write only lines in the format shown, "
          "nothing else.",
    "zh": "你从文本中抽取知识图谱。只按所示格式逐行书写，不写别的。",
}
INSTRUCTION = {
    "en": "List the named entities of the text and the relations between them, one per "
          "line:\nentity: NAME | TYPE   (TYPE is one of " + _KINDS + ")\n"
          "relation: NAME | RELATION | NAME\nWrite names exactly as the text writes them."
          "\n\nText:\n{text}",
    "zh": "列出文本中的命名实体及其之间的关系，每行一个：\nentity: 名称 | TYPE   （TYPE 取 "
          + _KINDS + " 之一）\nrelation: 名称 | 关系 | 名称\n名称照抄文本中的写法。"
          "\n\n文本：\n{text}",
}
EXAMPLE = {
    "en": ("Ada Park wrote the cache sweeper in 2019 while working at Norlight Systems, a "
           "company based in Oslo.",
           "entity: Ada Park | person\nentity: cache sweeper | product\n"
           "entity: Norlight Systems | organisation\nentity: Oslo | place\n"
           "entity: 2019 | date\nrelation: Ada Park | wrote | cache sweeper\n"
           "relation: Ada Park | worked at | Norlight Systems\n"
           "relation: Norlight Systems | based in | Oslo"),
    "zh": ("2019年，艾达·帕克在总部位于奥斯陆的北光系统公司工作时编写了缓存清理程序。",
           "entity: 艾达·帕克 | person\nentity: 缓存清理程序 | product\n"
           "entity: 北光系统公司 | organisation\nentity: 奥斯陆 | place\n"
           "entity: 2019年 | date\nrelation: 艾达·帕克 | 编写 | 缓存清理程序\n"
           "relation: 艾达·帕克 | 工作于 | 北光系统公司\n"
           "relation: 北光系统公司 | 总部位于 | 奥斯陆"),
}
SUMMARY = {
    "en": "These entities and relations form one group in a collection of documents:\n\n"
          "{group}\n\nIn one or two sentences, say what this group is about.",
    "zh": "以下实体和关系构成文档集中的一个群组：\n\n{group}\n\n用一两句话说明这个群组讲的是什么。",
}


def extraction_messages(title: str, text: str) -> list[Message]:
    language = question_language(text)
    shown = f"{title}\n{text}" if title and not text.startswith(title) else text
    example, reply = EXAMPLE[language]
    return [Message("system", SYSTEM[language]),
            Message("user", INSTRUCTION[language].format(text=example)),
            Message("assistant", reply),
            Message("user", INSTRUCTION[language].format(text=shown))]


def summary_messages(entities: Sequence[str], relations: Sequence[str]) -> list[Message]:
    group = "\n".join([*entities, *relations])
    language = question_language(group)
    return [Message("user", SUMMARY[language].format(group=group))]
