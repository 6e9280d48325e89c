"""The llama.cpp runner: prefix reuse, tokenizing, one model per process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lore.errors import MissingDependency
from lore.models.gguf import resolve_gguf
from lore.models.llama import LlamaRunner, load_runner
from lore.models.load import MIN_WINDOW, llama_threads
from lore.testing.models import needs_smollm2


@pytest.fixture(scope="module")
def runner() -> LlamaRunner:
    return load_runner(resolve_gguf("smollm2"), n_ctx=512, threads=1)  # see test_llm.py


def test_without_llama_cpp_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(MissingDependency, match=r"pip install 'lore\[local\]'") as error:
        load_runner(tmp_path / "model.gguf", 512)
    assert "\n" not in str(error.value)


@needs_smollm2
def test_one_model_per_file_and_settings(runner: LlamaRunner) -> None:
    assert load_runner(resolve_gguf("smollm2"), n_ctx=512, threads=1) is runner
    assert load_runner(resolve_gguf("smollm2"), n_ctx=1024, threads=1) is not runner


@needs_smollm2
def test_logits_do_not_depend_on_what_was_evaluated_before(runner: LlamaRunner) -> None:
    prefix = runner.tokenize("The capital of France is")
    rest = runner.tokenize(" Paris, and the capital of Italy is")
    with runner.lock:
        runner.prime(prefix)
        first = runner.logits_after(len(prefix), rest)
        runner.logits_after(len(prefix), runner.tokenize(" a question nobody asked"))
        before = runner.evaluated
        runner.prime(prefix)  # still cached: nothing to evaluate
        assert runner.evaluated == before
        again = runner.logits_after(len(prefix), rest)
    np.testing.assert_allclose(again, first, atol=1e-4)
    assert runner.llama.detokenize([int(first.argmax())]).decode().strip() == "Rome"


@needs_smollm2
def test_token_logprobs_score_a_stretch_in_one_pass_as_token_by_token_decoding_would(
        runner: LlamaRunner) -> None:
    tokens = runner.tokenize("The capital of France is Paris, and the capital of Italy is Rome.")
    with runner.lock:
        one_at_a_time = [_log_softmax(runner.logits_for(tokens[:i]))[tokens[i]]
                         for i in range(3, len(tokens))]
        runner.llama.reset()
        before = runner.evaluated
        scored = runner.token_logprobs(tokens, 3, len(tokens))
        assert runner.evaluated - before == len(tokens) - 1  # the prefix, then the stretch once
        assert list(runner.llama.input_ids[:runner.llama.n_tokens]) == tokens[:-1]
    # Batched and single-token evaluation round differently in llama.cpp (by up to 0.22 nats
    # here); scores shifted by one token would differ by nats.
    np.testing.assert_allclose(scored, one_at_a_time, atol=0.3)
    assert np.abs(scored[1:] - one_at_a_time[:-1]).max() > 1.0
    assert scored.shape == (len(tokens) - 3,) and (scored <= 0).all()
    rome = runner.tokenize(" Rome")[0]
    assert scored[-2] > np.log(0.2) and tokens[-2] == rome  # Rome, once Italy is named


@needs_smollm2
@pytest.mark.parametrize(("start", "end"), [(0, 3), (3, 3), (2, 99)])
def test_token_logprobs_refuse_an_empty_or_outside_stretch(runner: LlamaRunner, start: int,
                                                            end: int) -> None:
    with pytest.raises(ValueError, match="0 < start < end"):
        runner.token_logprobs(runner.tokenize("one two three four"), start, end)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum())
    return result


@needs_smollm2
def test_control_tokens_stay_text_unless_asked(runner: LlamaRunner) -> None:
    assert len(runner.tokenize("<|im_end|>")) > 1
    assert len(runner.tokenize("<|im_end|>", special=True)) == 1


@needs_smollm2
def test_the_chat_template_comes_from_the_file(runner: LlamaRunner) -> None:
    text = runner.render([{"role": "user", "content": "hi"}])
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


@needs_smollm2
def test_importing_lore_first_keeps_one_cxx_runtime() -> None:
    """usearch carries its own libstdc++; ``import lore`` loads the system one first, so
    llama.cpp can still read a vocabulary afterwards (``lore._native``)."""
    code = ("import lore, usearch.index\n"
            "from lore.models.gguf import resolve_gguf\n"
            "from lore.models.llama import load_runner\n"
            "print(len(load_runner(resolve_gguf('smollm2'), 512, 1).tokenize('hello')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) >= 1


@needs_smollm2
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: always one thread")
def test_a_prompt_evaluated_while_another_process_spins_gets_fewer_threads() -> None:
    runner = load_runner(resolve_gguf("smollm2"), n_ctx=512, slot=7)  # threads chosen per prompt
    assert runner.adaptive
    spin = "import time\nend = time.monotonic() + 2\nwhile time.monotonic() < end: pass"
    busy = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(MIN_WINDOW + 0.5)
        with runner.lock:
            runner.prime(runner.tokenize("The capital of France is Paris, and of Italy, Rome."))
    finally:
        busy.wait()
    assert runner.threads < llama_threads(len(os.sched_getaffinity(0)), 0.0)
