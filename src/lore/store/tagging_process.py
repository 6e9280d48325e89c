"""A process that tags concepts for ``lore.store.tagging``: pickled batches of (title, text)
in on standard input, each batch's concepts (or the traceback of its failure) out on standard
output, until standard input ends. Run as ``python -m lore.store.tagging_process``; nothing
imports it, so running it never finds it imported already."""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from typing import IO

from lore.store.tagging import Tagged, tag


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    while True:
        try:
            batch = pickle.load(requests)
        except EOFError:
            return
        try:
            answer: Tagged | str = tag(batch)
        except Exception:  # reported to the parent, which stops the run with it
            answer = traceback.format_exc()
        pickle.dump(answer, answers)
        answers.flush()


def main() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the children and says so.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot garble answers
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
