"""Model files and runtimes shared by stages: where a local GGUF model comes from
(``lore.models.gguf``) and how it runs (``lore.models.llama``).

Not a stage: the reranker's LLM judge and the generator both take their model from here, so
neither reaches into the other.
"""
