"""llama.cpp models through llama-cpp-python, loaded once per process: ``LlamaRunner``.

Shared by the stages that run a local GGUF model (the reranker's LLM judge now, the generator
later), so neither imports the other. ``load_runner`` keeps one ``Llama`` per file, context
size and thread count; each runner carries a lock, since a KV cache serves one caller at a time.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from lore.errors import ConfigError, MissingDependency, ModelError
from lore.models.llama_check import check_runs
from lore.models.load import OtherLoad, llama_threads, load_average, usable_cores

INSTALL_HINT = ("local GGUF models need llama.cpp: pip install 'lore[local]' (in a source "
                "checkout, bash scripts/install builds it for this CPU)")


class LlamaRunner:
    """One llama.cpp model and its KV cache: next-token logits after a shared prefix.

    ``prime(prefix)`` leaves exactly ``prefix`` in the KV cache, evaluating it in one pass
    unless it is there already; ``logits_after(len(prefix), rest)`` drops everything after the
    prefix and evaluates ``rest`` on top of it (llama.cpp keeps the first ``n_tokens`` of its
    KV cache and overwrites the rest, as ``Llama.generate`` does when a prompt shares a
    prefix). A continuation's logits therefore depend only on its own prompt, never on what
    was evaluated before it.

    Example::

        runner = load_runner(resolve_gguf("smollm2"), n_ctx=512)
        prefix = runner.tokenize("The capital of France is")
        runner.prime(prefix)
        logits = runner.logits_after(len(prefix), runner.tokenize(" Paris."))
    """

    def __init__(self, llama: Any, adaptive: bool = False) -> None:
        import llama_cpp

        self.llama = llama
        self.adaptive = adaptive
        """Choose the thread count before each prompt from what other work leaves idle."""
        self.threads = int(llama.n_threads)
        self._load = OtherLoad()
        self._set_threads = llama_cpp.llama_set_n_threads
        self.lock = threading.Lock()
        self.evaluated = 0
        """Prompt tokens evaluated so far."""
        self._get_logits = llama_cpp.llama_get_logits_ith
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._n_vocab = int(llama.n_vocab())
        self._pieces: dict[int, bytes] = {}
        """Token bytes by id, as copy-constrained decoding asks for many per step."""

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of ``text``, without BOS; ``special`` parses control-token text."""
        tokens: list[int] = self.llama.tokenize(text.encode("utf-8"), add_bos=False,
                                                special=special)
        return tokens

    @property
    def chat_template(self) -> str | None:
        """The GGUF's Jinja chat template (``tokenizer.chat_template``), if it has one."""
        template = self.llama.metadata.get("tokenizer.chat_template")
        return str(template) if template else None

    def render(self, messages: list[dict[str, str]]) -> str:
        """``messages`` through the GGUF's chat template, with the assistant's turn opened."""
        template = self.chat_template
        if template is None:
            raise ModelError("this model file has no chat template")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(template=template, eos_token=self._text(
            self.llama.token_eos()), bos_token=self._text(self.llama.token_bos()))
        # llama-cpp-python types messages as its OpenAI-style TypedDicts; these are plain dicts
        return str(formatter(messages=cast(Any, messages)).prompt)

    def prime(self, prefix: Sequence[int]) -> None:
        """Leave exactly ``prefix`` in the KV cache (evaluated afresh unless it is there)."""
        llama = self.llama
        if llama.n_tokens >= len(prefix) and \
                list(llama.input_ids[:len(prefix)]) == list(prefix):
            return
        llama.reset()
        self._eval(prefix)

    def logits_after(self, kept: int, rest: Sequence[int]) -> np.ndarray:
        """Next-token logits after the first ``kept`` cached tokens and then ``rest``."""
        if kept + len(rest) > self.llama.n_ctx():
            raise ConfigError(f"a prompt of {kept + len(rest)} tokens exceeds the model's "
                              f"context of {self.llama.n_ctx()}")
        self.llama.n_tokens = kept
        self._eval(rest)
        row = self._get_logits(self.llama.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(self._n_vocab,)).astype(np.float64)

    def logits_for(self, tokens: Sequence[int]) -> np.ndarray:
        """Next-token logits after ``tokens``, evaluating only what the KV cache lacks.

        The cache keeps its longest common prefix with ``tokens`` (at least the last token is
        evaluated again, since only the latest logits are kept), so decoding one token at a
        time, or a new prompt that shares an instruction with the last one, costs only the
        new tokens.
        """
        if not tokens:
            raise ValueError("logits_for needs at least one token")
        if len(tokens) > self.llama.n_ctx():
            raise ConfigError(f"a prompt of {len(tokens)} tokens exceeds the model's context "
                              f"of {self.llama.n_ctx()}")
        limit = min(int(self.llama.n_tokens), len(tokens) - 1)
        cached = np.asarray(self.llama.input_ids[:limit])
        differs = np.flatnonzero(cached != np.asarray(tokens[:limit]))
        kept = int(differs[0]) if differs.size else limit
        self.llama.n_tokens = kept
        self._eval(tokens[kept:])
        row = self._get_logits(self.llama.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(self._n_vocab,)).astype(np.float64)

    def token_logprobs(self, tokens: Sequence[int], start: int, end: int) -> np.ndarray:
        """log p(tokens[i] | tokens[:i]) for ``start <= i < end``, with ``tokens[:end]`` left
        in the KV cache: how likely the model finds a stretch of text in its context.

        The stretch is evaluated in one batch that keeps every row's logits (``Llama.eval``
        keeps only the last), so scoring it costs what evaluating it does.
        """
        if not 0 < start < end <= len(tokens):
            raise ValueError(f"token_logprobs needs 0 < start < end <= {len(tokens)}: "
                             f"got {start}, {end}")
        rows = [self.logits_for(tokens[:start])]
        rows += self._eval_keeping_logits(tokens[start:end - 1]) if end - start > 1 else []
        return np.array([_log_softmax_at(row, token)
                         for row, token in zip(rows, tokens[start:end], strict=True)])

    def _eval_keeping_logits(self, tokens: Sequence[int]) -> list[np.ndarray]:
        """Evaluate ``tokens`` after the cache, as ``Llama.eval`` does, returning each
        position's next-token logits. It drives llama-cpp-python's own context and batch,
        as ``Llama.eval`` does, asking for every row's logits."""
        llama = self.llama
        self._adapt_threads()
        llama._ctx.kv_cache_seq_rm(-1, llama.n_tokens, -1)
        rows: list[np.ndarray] = []
        for offset in range(0, len(tokens), llama.n_batch):
            batch = list(tokens[offset:offset + llama.n_batch])
            past = int(llama.n_tokens)
            llama._batch.set_batch(batch=batch, n_past=past, logits_all=True)
            llama._ctx.decode(llama._batch)
            llama.input_ids[past:past + len(batch)] = batch
            llama.n_tokens = past + len(batch)
            rows += [np.ctypeslib.as_array(self._get_logits(llama.ctx, i),
                                           shape=(self._n_vocab,)).astype(np.float64)
                     for i in range(len(batch))]
        self.evaluated += len(tokens)
        return rows

    def ends_turn(self, token: int) -> bool:
        """True for end-of-generation tokens (end of text, end of turn)."""
        return bool(self._is_eog(self._vocab, token))

    def piece(self, token: int) -> bytes:
        """A token's bytes (possibly part of a UTF-8 character)."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = bytes(self.llama.detokenize([token]))
        return piece

    def _eval(self, tokens: Sequence[int]) -> None:
        if len(tokens) > 1:
            self._adapt_threads()
        self.llama.eval(list(tokens))
        self.evaluated += len(tokens)

    def _adapt_threads(self) -> None:
        """Before a prompt: as many threads as cores other work leaves idle (``models.load``);
        the answer decoded after it keeps that count."""
        if not self.adaptive:
            return
        others = self._load.cores()
        if others is None:
            return
        threads = llama_threads(usable_cores(), others)
        if threads != self.threads:
            self._set_threads(self.llama.ctx, threads, threads)
            self.threads = threads

    def _text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self.llama.detokenize([token], special=True)).decode("utf-8", "replace")


def _log_softmax_at(logits: np.ndarray, token: int) -> float:
    top = logits.max()
    return float(logits[token] - top - np.log(np.exp(logits - top).sum()))


_runners: dict[tuple[str, int, int | None, int, str], LlamaRunner] = {}
_runners_lock = threading.Lock()


@atexit.register
def _close_runners() -> None:
    """Free the models while the interpreter is whole: llama-cpp-python's own ``__del__``
    fails when it runs during shutdown, after the modules it calls are gone."""
    with _runners_lock:
        for runner in _runners.values():
            runner.llama.close()
        _runners.clear()


def load_runner(path: Path, n_ctx: int, threads: int | None = None, slot: int = 0,
                adapter: Path | None = None) -> LlamaRunner:
    """The process's one ``LlamaRunner`` for this file, context size, thread count and slot.

    Args:
        path: a GGUF file (``lore.models.gguf.resolve_gguf`` finds one).
        n_ctx: context size in tokens: the longest prompt the runner will evaluate.
        threads: llama.cpp threads; ``None``: chosen before each prompt from the cores other
            work leaves idle (``lore.models.load.llama_threads``).
        slot: another copy with its own KV cache (the memory-mapped weights are shared).
        adapter: a llama.cpp LoRA adapter file applied to the weights.
    """
    key = (str(path.resolve()), n_ctx, threads, slot, str(adapter))
    with _runners_lock:
        runner = _runners.get(key)
        if runner is None:
            chosen = threads or llama_threads(usable_cores(), load_average())
            llama = _load_llama(path, n_ctx, chosen, adapter)
            runner = _runners[key] = LlamaRunner(llama, adaptive=threads is None)
        return runner


def _load_llama(path: Path, n_ctx: int, threads: int, adapter: Path | None = None) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise MissingDependency(INSTALL_HINT) from None
    check_runs(path)  # a build that cannot run here would kill this process on the first batch
    said = io.StringIO()  # llama.cpp reports on an adapter past verbose=False, line by line
    try:
        with contextlib.redirect_stderr(said) if adapter else contextlib.nullcontext():
            llama = Llama(str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                          seed=0, verbose=False, lora_path=str(adapter) if adapter else None)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"llama.cpp could not load {path}: {exc}") from exc
    # llama.cpp refuses an adapter whose architecture or shapes differ by returning NULL, and
    # llama-cpp-python, comparing that pointer with None, goes on without it.
    if adapter is not None and not getattr(llama, "_lora_adapter", None):
        lines = said.getvalue().strip().splitlines()
        reason = f" ({lines[-1].strip()})" if lines else ""
        raise ModelError(f"llama.cpp could not apply the adapter {adapter} to {path.name}"
                         f"{reason}: it was trained for another model; train it again on "
                         "this one (lore train rag --train joint)")
    return llama

