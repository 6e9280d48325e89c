"""The answering model as PyTorch trains it: its GGUF weights dequantised into a transformers
model, with LoRA adapters (PEFT) the only weights that learn.

What the model is trained on is exactly what llama.cpp reads at answer time: the token ids
come from llama.cpp's own tokenizer and chat template (``LocalGenerator.text_token_span``),
and the adapter goes back to llama.cpp (``lore.train.llama_adapter``).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from lore.errors import MissingDependency
from lore.models.pretrained import no_progress_bar
from lore.train.settings import DEFAULT_BATCH_TOKENS, LoraSettings

TokenRow = tuple[Sequence[int], int, int]
"""A prompt's token ids with the answer in them, and the answer's span ``[start, end)``."""
TUNE_HINT = ("training the answering model needs lore's tune extra: "
             "pip install 'lore[tune]' torch==2.13.0")


def load_causal_lm(path: Path) -> Any:
    """The GGUF model at ``path`` dequantised to float32, frozen, in evaluation mode."""
    try:
        import gguf as _  # noqa: F401  (transformers reads GGUF files through it)
        from transformers import AutoModelForCausalLM
    except ImportError:
        raise MissingDependency(TUNE_HINT) from None
    # transformers draws its own bar over the tensors, on stderr, past no_progress_bar
    with no_progress_bar(), contextlib.redirect_stderr(io.StringIO()):
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                     dtype=torch.float32)
    model.eval()  # type: ignore[no-untyped-call]
    model.requires_grad_(False)
    return model


def with_lora(model: Any, settings: LoraSettings, saved: Path | None = None) -> Any:
    """``model`` with trainable LoRA adapters: fresh (B = 0, so the model is unchanged until
    it learns), or those ``saved`` by ``save_pretrained``."""
    try:
        from peft import LoraConfig, PeftModel, get_peft_model
    except ImportError:
        raise MissingDependency(TUNE_HINT) from None
    if saved is not None:
        return PeftModel.from_pretrained(model, str(saved), is_trainable=True)
    count = model.config.num_hidden_layers
    first = 0 if settings.layers is None else max(0, count - settings.layers)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=0.0,
                        target_modules=list(settings.modules), bias="none",
                        layers_to_transform=list(range(first, count)))
    return get_peft_model(model, config)


def lora_weights(model: Any) -> dict[str, Any]:
    """The adapter's weights as float32 numpy arrays, by PEFT's names."""
    from peft import get_peft_model_state_dict

    return {name: tensor.detach().float().numpy()
            for name, tensor in get_peft_model_state_dict(
                model, save_embedding_layers=False).items()}


def answer_logprobs(model: Any, rows: Sequence[TokenRow],
                    batch_tokens: int = DEFAULT_BATCH_TOKENS) -> list[torch.Tensor]:
    """Per row, log p(token_t | tokens before t) for each answer token, as a 1-D tensor
    carrying the gradient. Rows are padded on the right and run together, up to
    ``batch_tokens`` padded tokens at a time; the vocabulary projection runs on the answer
    positions alone (over a 150k vocabulary it would cost as much as the layers)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder, head = base.model, base.get_output_embeddings()
    out = [torch.empty(0)] * len(rows)  # every row is in one group
    for group in token_groups(rows, batch_tokens):
        length = max(len(rows[i][0]) for i in group)
        ids = torch.zeros(len(group), length, dtype=torch.long)
        mask = torch.zeros(len(group), length, dtype=torch.long)
        for slot, i in enumerate(group):
            tokens = rows[i][0]
            ids[slot, :len(tokens)] = torch.tensor(tokens)
            mask[slot, :len(tokens)] = 1
        hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
        for slot, i in enumerate(group):
            tokens, start, end = rows[i]
            logits = head(hidden[slot, start - 1:end - 1]).float()
            targets = torch.tensor(tokens[start:end])
            out[i] = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]
    return out


def token_groups(rows: Sequence[TokenRow], batch_tokens: int) -> Iterator[list[int]]:
    """Row indices in groups whose padded size (rows × longest) stays within
    ``batch_tokens``; a row longer than that is a group of its own."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    group: list[int] = []
    for i in order:
        longest = len(rows[i][0])  # sorted: the newest is the longest
        if group and (len(group) + 1) * longest > batch_tokens:
            yield group
            group = []
        group.append(i)
    if group:
        yield group
