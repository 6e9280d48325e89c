"""Training and test questions that cannot leak into each other.

The rule is fixed and keyed by content, so every run, every machine and every later session
draws the same split:

- A question with one gold document is split by that document's **title**: every question
  about an article (SQuAD's paragraphs of one title; a CMRC document) falls on one side.
- A question with several gold documents (HotpotQA's two paragraphs) is split by its **id**.

A key goes to test when the first 8 hex digits of ``sha256("lore-split/" + key)``, read as a
fraction of 2**32, fall below ``TEST_SHARE``. The test documents are every gold document of
a test question and every document under a test title; training never reads them (they are
dropped from its candidate passages), and a training question whose own gold documents are
among them is left out, so no test paragraph is ever a training positive.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

TEST_SHARE = 0.2
"""The share of keys (titles, or question ids) that go to test."""
RULE = "lore-split/sha256: title of the single gold document, else question id; test < 0.2"
"""What a trained model records as the rule it was trained under."""


@dataclass(frozen=True, slots=True)
class QAExample:
    """A question with its reference answers: what question-answer training reads."""

    id: str
    question: str
    answers: tuple[str, ...]
    documents: tuple[str, ...] = ()
    """Its gold documents' keys, where the set names them (the split reads them)."""
    group: str = ""
    """Its ``split_key``: questions of one group (an article) are held out together."""


@dataclass(frozen=True)
class QASplit:
    train: tuple[QAExample, ...]
    test: tuple[QAExample, ...]
    test_documents: frozenset[str]
    """Documents training must never read."""
    left_out: tuple[QAExample, ...] = ()
    """Training-side questions dropped because a gold document of theirs is a test one."""

    def describe(self) -> str:
        return (f"{len(self.train)} training questions, {len(self.test)} test questions "
                f"({len(self.left_out)} left out for sharing a test document)")


def in_test(key: str, share: float = TEST_SHARE) -> bool:
    digest = hashlib.sha256(f"lore-split/{key}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32 < share


def split_key(example: QAExample, titles: Mapping[str, str]) -> str:
    """The title of its single gold document (the document's key when untitled), else its
    id."""
    if len(example.documents) == 1:
        document = example.documents[0]
        title = titles.get(document, "")
        return f"title:{title}" if title else f"document:{document}"
    return f"question:{example.id}"


def split_examples(examples: Sequence[QAExample], titles: Mapping[str, str],
                   share: float = TEST_SHARE) -> QASplit:
    """Split by the module's rule; ``titles`` maps document keys to titles (the corpus's).
    Each example comes back with its ``group``."""
    examples = [replace(e, group=split_key(e, titles)) for e in examples]
    test = [e for e in examples if in_test(e.group, share)]
    test_titles = {titles[d] for e in test if len(e.documents) == 1
                   for d in e.documents if titles.get(d)}
    held = {d for e in test for d in e.documents}
    held |= {key for key, title in titles.items() if title in test_titles}
    chosen = {e.id for e in test}
    train = [e for e in examples if e.id not in chosen and not held & set(e.documents)]
    left_out = [e for e in examples if e.id not in chosen and held & set(e.documents)]
    return QASplit(tuple(train), tuple(test), frozenset(held), tuple(left_out))


def question_key(question: str) -> str:
    """A question as compared for overlap: case and spacing do not make it another one."""
    return hashlib.sha256(" ".join(question.casefold().split()).encode()).hexdigest()[:16]


def overlap(trained_on: Iterable[str], questions: Iterable[str]) -> list[str]:
    """The ``questions`` whose ``question_key`` is among the keys ``trained_on``."""
    seen = set(trained_on)
    return [q for q in questions if question_key(q) in seen]
