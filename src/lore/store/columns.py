"""One-dimensional ``.npy`` columns written and read a block at a time: how the derived
indexes (``lore.store.derived``) are written without holding every row (``BM25Writer``,
``ConceptWriter``), and how an earlier copy is read back to be carried over.

>>> columns = ColumnFiles(directory, {"keys": np.dtype(np.int64)})
>>> columns.append({"keys": np.array([3, 5])})
>>> columns.finish()
>>> NpyFile(directory / "keys.npy").read(1, 10)
array([5])
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


class ColumnFiles:
    """Columns appended to raw files as rows come, made ``<name>.npy`` files by ``finish``."""

    def __init__(self, directory: Path, dtypes: dict[str, np.dtype[Any]]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory, self._dtypes = directory, dtypes
        for name in dtypes:
            self._raw_path(name).write_bytes(b"")
        self.counts = dict.fromkeys(dtypes, 0)
        """Values appended to each column so far."""

    def append(self, arrays: dict[str, np.ndarray]) -> None:
        for name, array in arrays.items():
            with open(self._raw_path(name), "ab") as raw:
                raw.write(np.ascontiguousarray(array, dtype=self._dtypes[name]).tobytes())
            self.counts[name] += array.size

    def finish(self) -> None:
        """Write each column as ``<name>.npy`` (a header, then the raw file copied)."""
        for name, dtype in self._dtypes.items():
            raw = self._raw_path(name)
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                      "shape": (self.counts[name],)}
            with open(self._directory / f"{name}.npy", "wb") as saved, open(raw, "rb") as data:
                np.lib.format.write_array_header_1_0(saved, header)
                shutil.copyfileobj(data, saved, 1 << 22)
            raw.unlink()

    def _raw_path(self, name: str) -> Path:
        return self._directory / f"{name}.raw"


class NpyFile:
    """A one-dimensional ``.npy`` file read a slice at a time with plain reads (a memory map
    would count every page it touched in this process's resident memory)."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            shape, _, self.dtype = (np.lib.format.read_array_header_1_0(handle)
                                    if version == (1, 0)
                                    else np.lib.format.read_array_header_2_0(handle))
            self._offset = handle.tell()
        self.path, self.size = path, int(shape[0])

    def read(self, start: int, count: int) -> np.ndarray:
        count = max(0, min(count, self.size - start))
        return np.fromfile(self.path, dtype=self.dtype, count=count,
                           offset=self._offset + start * self.dtype.itemsize)


def live_rows(files: dict[str, NpyFile], per_item: tuple[str, ...], dropped: np.ndarray,
              rows: int) -> Iterator[dict[str, np.ndarray]]:
    """The rows of a saved copy whose ``keys`` are not in ``dropped``, ``rows`` at a time: every
    column but ``per_item`` has a value a row; those hold ``sizes[i]`` values for row ``i``."""
    dropped = np.asarray(dropped, np.int64)
    position = 0
    for start in range(0, files["keys"].size, rows):
        keys, sizes = files["keys"].read(start, rows), files["sizes"].read(start, rows)
        live = ~np.isin(keys, dropped)
        count = int(sizes.sum())
        items = np.repeat(live, sizes)
        yield {name: (file.read(position, count)[items] if name in per_item
                      else file.read(start, rows)[live]) for name, file in files.items()}
        position += count
