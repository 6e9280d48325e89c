"""Token bytes to text: whole UTF-8 characters only, stop strings never shown; and choosing
tokens over a TokenScorer: the repetition penalty, sampling, the copy constraint."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pytest

from lore.generate.decode import (
    TextStream,
    decode_steps,
    log_softmax,
    penalize,
    pick_token,
    text_pieces,
)
from lore.generate.protocol import Message, Sampling


def feed_all(stream: TextStream, pieces: list[bytes]) -> list[str]:
    shown = [stream.feed(piece) for piece in pieces]
    return [*shown, stream.finish()]


def test_chinese_split_into_bytes_comes_out_whole() -> None:
    data = "北京是首都".encode()
    stream = TextStream()
    shown = [stream.feed(data[i:i + 1]) for i in range(len(data))]
    # Each character is three bytes: nothing until its last byte arrives.
    assert shown[:3] == ["", "", "北"]
    assert "".join(shown) == "北京是首都"
    assert all("\ufffd" not in piece for piece in shown)
    assert stream.finish() == ""
    assert stream.text == "北京是首都"


def test_a_character_split_across_uneven_pieces() -> None:
    data = "aé北b".encode()  # 1 + 2 + 3 + 1 bytes
    pieces = [data[:2], data[2:4], data[4:6], data[6:]]
    assert "".join(feed_all(TextStream(), pieces)) == "aé北b"


def test_text_before_a_stop_string_is_released() -> None:
    stream = TextStream(stop=("Question:",))
    assert stream.feed(b"Paris is the capital.") == "Paris is the capital."
    assert stream.feed(b" Question: what else?") == " "
    assert stream.stopped
    assert stream.text == "Paris is the capital. "


def test_a_stop_string_split_across_feeds_is_never_yielded() -> None:
    stream = TextStream(stop=("\n\nQuestion:",))
    shown = [stream.feed(b"Paris.\n"), stream.feed(b"\nQues")]
    assert shown == ["Paris.", ""]  # the possible start of the stop string is held back
    assert not stream.stopped
    assert stream.feed(b"tion: and more") == ""
    assert stream.stopped
    assert stream.feed(b"later text") == ""
    assert stream.finish() == ""
    assert stream.text == "Paris."


def test_held_text_that_is_no_stop_string_is_released() -> None:
    stream = TextStream(stop=("STOP",))
    assert stream.feed(b"go ST") == "go "
    assert stream.feed(b"ART now") == "START now"
    assert not stream.stopped


def test_finish_releases_held_text() -> None:
    stream = TextStream(stop=("STOP",))
    assert stream.feed(b"the end ST") == "the end "
    assert stream.finish() == "ST"
    assert stream.text == "the end ST"


def test_finish_replaces_an_unfinished_character() -> None:
    stream = TextStream()
    assert stream.feed("北".encode()[:2]) == ""
    assert stream.finish() == "\ufffd"


def test_empty_stop_strings_are_ignored() -> None:
    stream = TextStream(stop=("",))
    assert stream.feed(b"abc") == "abc"
    assert not stream.stopped


def test_the_earliest_of_several_stop_strings_stops_the_stream() -> None:
    stream = TextStream(stop=("Question:", "\n\n"))
    shown = stream.feed(b"Paris.\n\nQuestion: next")
    assert stream.stopped
    assert shown == "Paris."


def test_log_softmax_is_a_normalised_log_distribution() -> None:
    logits = np.array([1000.0, 999.0, -5.0])  # large values must not overflow
    logprobs = log_softmax(logits)
    assert np.all(logprobs <= 0)
    assert np.exp(logprobs).sum() == pytest.approx(1.0)
    assert logprobs[0] - logprobs[1] == pytest.approx(1.0)


def test_text_pieces_are_never_empty_and_end_at_a_stop_string() -> None:
    data = "北京. Question: more".encode()
    drawn: list[int] = []

    def tokens() -> Iterator[int]:
        for token in data:
            drawn.append(token)
            yield token

    pieces = list(text_pieces(tokens(), lambda token: bytes([token]), stop=(" Question:",)))
    assert pieces and all(pieces) and "".join(pieces) == "北京."
    assert bytes(drawn) == "北京. Question:".encode()  # nothing drawn past the stop string
    assert "".join(text_pieces([*b"abc"], lambda token: bytes([token]))) == "abc"


# ---- repetition penalty and picking (no model) ---------------------------------------------


def test_penalize_divides_positive_and_multiplies_negative_logits() -> None:
    logits = np.array([2.0, -1.0, 0.5, 3.0, 0.0])
    adjusted = penalize(logits, [0, 1, 1, 4], 2.0)
    np.testing.assert_array_equal(adjusted, [1.0, -2.0, 0.5, 3.0, 0.0])
    np.testing.assert_array_equal(logits, [2.0, -1.0, 0.5, 3.0, 0.0])  # not changed in place


def test_a_repeated_token_always_becomes_less_likely() -> None:
    logits = np.array([2.0, -1.0, 0.5])
    for token in range(3):
        adjusted = penalize(logits, [token], 1.3)
        assert adjusted[token] < logits[token]
        others = [t for t in range(3) if t != token]
        np.testing.assert_array_equal(adjusted[others], logits[others])


def test_no_penalty_or_no_recent_tokens_changes_nothing() -> None:
    logits = np.array([2.0, -1.0, 0.5])
    np.testing.assert_array_equal(penalize(logits, [0, 1], 1.0), logits)
    np.testing.assert_array_equal(penalize(logits, [], 1.5), logits)


def test_pick_token_is_greedy_at_zero_and_draws_with_an_rng_above() -> None:
    logits = np.array([1.0, 3.0, 2.0])
    assert pick_token(logits, 0.0, None) == 1
    rng = np.random.default_rng(0)
    drawn = [pick_token(logits, 1.0, rng) for _ in range(200)]
    assert set(drawn) == {0, 1, 2} and drawn.count(1) > drawn.count(2) > drawn.count(0)
    with pytest.raises(ValueError, match="needs an rng"):
        pick_token(logits, 0.7, None)


class FixedLogits:
    """A TokenScorer with the same logits after any tokens; ``end`` ends the turn."""

    def __init__(self, logits: Sequence[float], end: int = -1) -> None:
        self.logits = np.asarray(logits, dtype=np.float64)
        self.end = end

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        return [0]

    def next_logits(self, tokens: Sequence[int], slot: int = 0) -> np.ndarray:
        return self.logits.copy()

    @contextmanager
    def reserve(self, slots: int = 1) -> Iterator[None]:
        yield

    def piece(self, token: int) -> bytes:
        return b"abcdef"[token:token + 1]

    def ends_turn(self, token: int) -> bool:
        return token == self.end

    def text_logprob(self, messages: Sequence[Message], text: str) -> float:
        return 0.0

    def text_token_logprobs(self, messages: Sequence[Message], text: str) -> np.ndarray:
        return np.zeros(1)


def picked(sampling: Sampling, prompt: Sequence[int] = (0, 1)) -> list[int]:
    return [s.token for s in decode_steps(FixedLogits([5.0, 4.0, 3.0]), prompt, sampling)]


def test_steps_penalise_only_generated_tokens_within_the_window() -> None:
    # Prompt tokens 0 and 1 are not penalised: the first pick is still token 0.
    assert picked(Sampling(max_tokens=4, repeat_penalty=2.0)) == [0, 1, 2, 0]
    assert picked(Sampling(max_tokens=4, repeat_penalty=2.0, repeat_window=1)) == [0, 1, 0, 1]
    assert picked(Sampling(max_tokens=4, repeat_penalty=1.0)) == [0, 0, 0, 0]


def test_a_zero_window_penalises_nothing() -> None:
    assert picked(Sampling(max_tokens=4, repeat_penalty=2.0, repeat_window=0)) == [0, 0, 0, 0]


def test_step_log_probabilities_ignore_the_penalty() -> None:
    steps = list(decode_steps(FixedLogits([5.0, 4.0, 3.0]), [0],
                              Sampling(max_tokens=2, repeat_penalty=2.0)))
    expected = log_softmax(np.array([5.0, 4.0, 3.0]))
    assert [s.token for s in steps] == [0, 1]
    np.testing.assert_allclose([s.logprob for s in steps], expected[:2])


def test_decoding_ends_before_a_token_that_ends_the_turn() -> None:
    assert list(decode_steps(FixedLogits([1.0, 9.0], end=1), [0], Sampling())) == []


def test_the_copy_constraint_keeps_the_answer_a_span_and_ends_it() -> None:
    # pieces: 0 "a", 1 "b", 2 "c", 3 "d", 4 "e", 5 "f"; the model prefers "d", then "e"
    scorer = FixedLogits([1.0, 2.0, 3.0, 9.0, 8.0, 0.0], end=5)
    sampling = Sampling(max_tokens=8, repeat_penalty=1.0, copy_from=("cab",))
    tokens = [s.token for s in decode_steps(scorer, [0], sampling)]
    assert bytes(b"abcdef"[t] for t in tokens) == b"cab"  # then nothing continues "cab"
