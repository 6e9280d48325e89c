"""Packing counted units: long units cut into lines, words, then characters; windows that fit
the budget, come out balanced, keep blocks whole and overlap by whole units."""

from __future__ import annotations

from collections.abc import Sequence

from lore.ingest.packing import Unit, cost, fit, windows


def words(texts: Sequence[str]) -> list[int]:
    return [len(text.split()) for text in texts]


def units(*tokens: int, blocks: Sequence[int] = ()) -> list[Unit]:
    """One unit per count, ten characters apart, in block 0 unless ``blocks`` says otherwise."""
    owners = list(blocks) or [0] * len(tokens)
    return [Unit(10 * i, 10 * i + 9, owners[i], n) for i, n in enumerate(tokens)]


def test_windows_are_balanced() -> None:
    assert windows(units(5, 5, 5, 5, 5, 5), budget=24, overlap=0) == [(0, 3), (3, 6)]


def test_windows_repeat_whole_units_up_to_the_overlap() -> None:
    found = windows(units(5, 5, 5, 5, 5, 5), budget=12, overlap=5)

    assert found == [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]


def test_windows_take_whole_blocks() -> None:
    assert windows(units(3, 3, 3, 3, blocks=[0, 0, 1, 1]), budget=9, overlap=0) == [(0, 2), (2, 4)]


def test_a_lone_unit_over_the_budget_is_a_window_of_its_own() -> None:
    assert windows(units(30), budget=10, overlap=0) == [(0, 1)]


def test_fit_cuts_lines_then_words() -> None:
    text = "one two\nthree four five"
    whole = [Unit(0, len(text), 0, 5)]

    assert [text[u.start:u.end] for u in fit(text, whole, 3, words, 0)] == [
        "one two", "three four five"]
    assert [text[u.start:u.end] for u in fit(text, whole, 2, words, 0)] == [
        "one two", "three", "four", "five"]


def test_fit_cuts_a_long_word_into_character_windows() -> None:
    def characters(texts: Sequence[str]) -> list[int]:
        return [len(text) // 4 + 1 for text in texts]

    pieces = fit("x" * 50, [Unit(0, 50, 0, 13)], 4, characters, 0)

    assert all(u.tokens <= 4 for u in pieces)
    assert [(u.start, u.end) for u in pieces] == [(0, 15), (15, 30), (30, 45), (45, 50)]


def test_cost_leaves_out_the_special_tokens_of_a_call() -> None:
    assert (cost(7, 2), cost(1, 2)) == (5, 0)
