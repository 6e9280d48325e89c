"""Load the system C++ runtime before any extension module that carries its own copy.

usearch's wheel links libstdc++ statically and exports it, GNU_UNIQUE symbols included (such
as ``std::__cxx11::collate<char>::id``), which the dynamic linker shares across the whole
process. Two copies of the runtime then number locale facets from two counters, and the next
library that builds a ``std::regex`` with the system runtime fails with ``std::bad_cast``:
llama.cpp does so while loading a model's vocabulary ("error loading model vocabulary"), in
either import order. With the system ``libstdc++.so.6`` loaded first into the global scope,
usearch's references to the runtime resolve to it and the process has one runtime again. The
same class of bug: html-extract/hext#39, duckdb/duckdb#7921.

``lore/__init__.py`` imports this module first, so ``import lore`` fixes the order. A program
that imports usearch itself before lore still has two runtimes; nothing here can undo that.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys


def preload_cxx_runtime() -> None:
    """Load ``libstdc++.so.6`` with ``RTLD_GLOBAL`` on Linux, unless usearch is already in."""
    if sys.platform != "linux" or "usearch" in sys.modules:
        return
    with contextlib.suppress(OSError):  # no system C++ runtime: nothing to share
        ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)


preload_cxx_runtime()


def release_freed_memory() -> None:
    """Hand memory that the process freed back to the system (glibc's ``malloc_trim``).

    Embedding allocates activations of a new shape for every batch, from several threads;
    glibc keeps what they free in its heaps, fragmented, so resident memory climbs with every
    batch though little is in use. Called after each slice of an index run and before each
    derived index is built, it takes back most of that growth for a few percent more time
    (``python benchmarks/ingest_memory.py``; docs/postgres.md). Elsewhere than glibc it does
    nothing.
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):  # musl, or no libc.so.6
        ctypes.CDLL("libc.so.6").malloc_trim(0)
