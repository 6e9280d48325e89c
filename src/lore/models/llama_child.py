"""Run llama.cpp in a child process: what it was built for, and a timed prompt and decode.

This file is run by path (``python -P llama_child.py ...``), never imported by lore: it needs
only the standard library and llama-cpp-python, so a build that dies with a signal takes down
this child alone, and the parent (``lore.models.llama_check``) reports why. It prints one JSON
object on stdout.

    python -P llama_child.py info
    python -P llama_child.py smoke MODEL.gguf --prompt 320 --decode 8 --threads 2
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import sys
import time
from typing import Any

# Varied English, so that the prompt is ordinary text rather than one repeated token.
_TEXT = (
    "The library keeps its index in one directory. Each document is cut into chunks that "
    "follow its headings and code symbols, and every chunk is embedded and stored with the "
    "terms a lexical search needs. A question is answered from the passages that match it "
    "best, each cited by number, so that a reader can check every claim against its source. "
    "When a file changes, only its chunks are embedded again; when it is removed, its chunks "
    "go with it. Expired cache entries are removed by a sweep that runs every minute. "
)


def build_info() -> dict[str, Any]:
    """llama-cpp-python's version and llama.cpp's system info (the features it was built for)."""
    import llama_cpp

    return {"version": llama_cpp.__version__,
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace")}


def smoke(path: str, prompt_tokens: int, decode_tokens: int, threads: int, n_ctx: int
          ) -> dict[str, Any]:
    """Load ``path``, evaluate a prompt of exactly ``prompt_tokens`` tokens in one batch and
    decode ``decode_tokens`` greedily, one at a time; time each part."""
    import llama_cpp
    import numpy as np

    started = time.perf_counter()
    llama = llama_cpp.Llama(path, n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=threads,
                            n_threads_batch=threads, seed=0, verbose=False)
    loaded = time.perf_counter()
    text = _TEXT * (1 + prompt_tokens // 40)
    prompt = llama.tokenize(text.encode("utf-8"), add_bos=True)[:prompt_tokens]
    llama.eval(prompt)
    prefilled = time.perf_counter()
    n_vocab = llama.n_vocab()
    decoded: list[int] = []
    for _ in range(decode_tokens):
        row = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
        token = int(np.ctypeslib.as_array(row, shape=(n_vocab,)).argmax())
        decoded.append(token)
        llama.eval([token])
    finished = time.perf_counter()
    text_out = llama.detokenize(decoded).decode("utf-8", "replace")
    llama.close()
    return {"prompt_tokens": len(prompt), "decode_tokens": len(decoded), "threads": threads,
            "load_s": loaded - started, "prefill_s": prefilled - loaded,
            "decode_s": finished - prefilled, "text": text_out, **build_info()}


def main(argv: list[str]) -> int:
    faulthandler.enable()  # a fatal signal still leaves a line on stderr
    parser = argparse.ArgumentParser(prog="llama_child")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info")
    run = commands.add_parser("smoke")
    run.add_argument("model")
    run.add_argument("--prompt", type=int, default=320)
    run.add_argument("--decode", type=int, default=8)
    run.add_argument("--threads", type=int, default=1)
    run.add_argument("--ctx", type=int, default=1024)
    args = parser.parse_args(argv)
    if args.command == "info":
        result = build_info()
    else:
        result = smoke(args.model, args.prompt, args.decode, args.threads, args.ctx)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
