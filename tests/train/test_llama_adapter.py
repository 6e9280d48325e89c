"""A LoRA trained in PyTorch reaches llama.cpp unchanged: the adapter file moves llama.cpp's
token scores as the adapter moves the PyTorch model's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lore.errors import ConfigError, ModelError
from lore.generate.local import LocalGenerator
from lore.generate.protocol import Message
from lore.models.gguf import ADAPTER_MARK, gguf_identity, resolve_gguf
from lore.train.causal_lm import answer_logprobs, load_causal_lm, lora_weights, with_lora
from lore.train.llama_adapter import llama_tensors, rotary_permuted, write_llama_adapter
from lore.train.llama_merge import merge_adapter
from lore.train.settings import LORA_MODULES, LoraSettings

MESSAGES = (Message("system", "Answer from the passage."),
            Message("user", "Passage: The tides rise and fall because the moon pulls on "
                            "the oceans.\nQuestion: what pulls on the oceans?"))
ANSWER = "The moon pulls on the oceans."
SCALE = 0.1


def test_rotary_rows_interleave_each_heads_halves() -> None:
    rows = np.arange(8)[:, None] * np.ones((1, 2))  # 2 heads of 4 rows: halves [0 1] [2 3]
    assert rotary_permuted(rows, 2)[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_a_weight_llama_cpp_cannot_adapt_is_refused() -> None:
    with pytest.raises(ConfigError, match="lm_head.lora_A.weight.*no llama.cpp counterpart"):
        llama_tensors({"base_model.model.lm_head.lora_A.weight": np.zeros((2, 3))}, "qwen2",
                      (2, 2))


@pytest.fixture(scope="module")
def smollm2() -> Path:
    return resolve_gguf("smollm2")


@pytest.mark.slow
@pytest.mark.parametrize("modules", [("q_proj", "k_proj"), LORA_MODULES])
def test_llama_cpp_reads_the_adapter_as_pytorch_trained_it(
        smollm2: Path, tmp_path: Path, modules: tuple[str, ...]) -> None:
    """Random adapter weights stand in for trained ones: the change they make to each answer
    token's log-probability is the same in both engines (the query and key rows need
    llama.cpp's rotary order, so they are checked alone too)."""
    plain = LocalGenerator(str(smollm2))
    tokens, start, end = plain.text_token_span((*MESSAGES, Message("assistant", ANSWER)),
                                               ANSWER)
    lm = load_causal_lm(smollm2)
    with torch.no_grad():
        before = answer_logprobs(lm, [(tokens, start, end)])[0].numpy()
        adapted = with_lora(lm, LoraSettings(rank=4, alpha=8, modules=modules))
        _randomise(adapted)
        after = answer_logprobs(adapted, [(tokens, start, end)])[0].numpy()
    config = lm.config
    out = tmp_path / "adapter.gguf"
    write_llama_adapter(lora_weights(adapted), 8, config.model_type,
                        (config.num_attention_heads, config.num_key_value_heads),
                        gguf_identity(smollm2), out)
    messages = (*MESSAGES, Message("assistant", ANSWER))
    base = plain.text_token_logprobs(messages, ANSWER)
    moved = LocalGenerator(f"{smollm2}{ADAPTER_MARK}{out}").text_token_logprobs(messages, ANSWER)
    torch_change, llama_change = after - before, moved - base
    assert np.abs(torch_change).mean() > 0.1  # the adapter really moves the scores
    assert np.corrcoef(torch_change, llama_change)[0, 1] > 0.9
    assert np.abs(torch_change - llama_change).mean() < 0.3 * np.abs(torch_change).mean()


@pytest.mark.slow
def test_an_adapter_for_another_model_is_refused(smollm2: Path, tmp_path: Path) -> None:
    lm = load_causal_lm(smollm2)
    adapted = with_lora(lm, LoraSettings(rank=2, alpha=4))
    config = lm.config
    out = tmp_path / "adapter.gguf"
    write_llama_adapter(lora_weights(adapted), 4, config.model_type,
                        (config.num_attention_heads, config.num_key_value_heads), "x", out)
    with pytest.raises(ModelError, match="trained for another model"):
        LocalGenerator(f"qwen-0.5b{ADAPTER_MARK}{out}")


@pytest.mark.slow
def test_the_merged_model_scores_as_the_model_beside_its_adapter(smollm2: Path,
                                                                 tmp_path: Path) -> None:
    """Merged into a copy of the model, the adapter changes each answer token's
    log-probability as it does applied beside the model at run time."""
    lm = load_causal_lm(smollm2)
    adapted = with_lora(lm, LoraSettings(rank=4, alpha=8))
    with torch.no_grad():
        _randomise(adapted)
    adapter = _written(adapted, smollm2, tmp_path / "adapter.gguf")
    merged = tmp_path / "merged.gguf"
    assert merge_adapter(smollm2, adapter, merged) == 7 * lm.config.num_hidden_layers
    messages = (*MESSAGES, Message("assistant", ANSWER))
    plain = LocalGenerator(str(smollm2)).text_token_logprobs(messages, ANSWER)
    beside = LocalGenerator(f"{smollm2}{ADAPTER_MARK}{adapter}").text_token_logprobs(
        messages, ANSWER)
    inside = LocalGenerator(str(merged)).text_token_logprobs(messages, ANSWER)
    change_beside, change_inside = beside - plain, inside - plain
    assert np.abs(change_beside).mean() > 0.1
    assert np.corrcoef(change_beside, change_inside)[0, 1] > 0.95
    assert np.abs(change_beside - change_inside).mean() < 0.2 * np.abs(change_beside).mean()


@pytest.mark.slow
def test_an_adapter_is_not_merged_into_another_model(smollm2: Path, tmp_path: Path) -> None:
    adapted = with_lora(load_causal_lm(smollm2), LoraSettings(rank=2, alpha=4))
    adapter = _written(adapted, smollm2, tmp_path / "adapter.gguf")
    with pytest.raises(ConfigError, match="trained for another model"):
        merge_adapter(resolve_gguf("qwen-0.5b"), adapter, tmp_path / "merged.gguf")
    assert not list(tmp_path.glob("merged*"))


def _written(adapted: Any, base: Path, out: Path) -> Path:
    config = adapted.get_base_model().config
    write_llama_adapter(lora_weights(adapted), adapted.peft_config["default"].lora_alpha,
                        config.model_type,
                        (config.num_attention_heads, config.num_key_value_heads),
                        gguf_identity(base), out)
    return out


def _randomise(model: Any) -> None:
    generator = torch.Generator().manual_seed(0)
    for name, parameter in model.named_parameters():
        if "lora_" in name:
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * SCALE)
