"""Loading ``transformers`` checkpoints without changing the caller's settings.

``from_pretrained`` draws a progress bar through a process-wide switch. A library must not flip
a switch its caller owns, so ``no_progress_bar`` turns the bar off for one load and restores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_progress_bar() -> Iterator[None]:
    """Within the block, ``transformers`` loads draw no progress bar; the setting is then
    restored to what it was.

    Example::

        with no_progress_bar():
            model = AutoModel.from_pretrained(str(model_dir))
    """
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if bar:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
