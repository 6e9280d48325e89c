import numpy as np
import pytest

from lore.eval.significance import paired_difference


def test_a_constant_gain_has_no_spread() -> None:
    a = {f"q{i}": float(i) for i in range(50)}
    b = {q: score + 2 for q, score in a.items()}
    difference = paired_difference(a, b)
    assert (difference.mean, difference.low, difference.high) == pytest.approx((2, 2, 2))
    assert (difference.better, difference.worse, difference.questions) == (50, 0, 50)


def test_pairing_narrows_the_interval_below_the_unpaired_one() -> None:
    rng = np.random.default_rng(1)
    hardness = rng.uniform(0, 100, 400)
    a = {f"q{i}": float(h) for i, h in enumerate(hardness)}
    b = {f"q{i}": float(h + rng.normal(1, 3)) for i, h in enumerate(hardness)}
    difference = paired_difference(a, b)
    assert difference.low < 1 < difference.high
    assert difference.low > 0  # a gain of 1 with noise 3 shows on 400 questions
    unpaired_se = np.sqrt(2 * hardness.var() / len(hardness))
    assert difference.high - difference.low < unpaired_se


def test_only_shared_questions_count() -> None:
    difference = paired_difference({"a": 1.0, "b": 5.0}, {"b": 4.0, "c": 9.0})
    assert (difference.mean, difference.questions, difference.worse) == (-1.0, 1, 1)


def test_no_shared_question_is_refused() -> None:
    with pytest.raises(ValueError, match="same questions"):
        paired_difference({"a": 1.0}, {"b": 1.0})
