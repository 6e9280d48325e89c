"""Token bytes to text: whole UTF-8 characters only, stop strings never shown."""

from __future__ import annotations

import numpy as np
import pytest

from lore.generate.decode import TextStream, log_softmax


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
