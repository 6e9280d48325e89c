"""Writing answers from sources: prompts, generators (local GGUF, OpenAI-compatible servers),
citation checks, and RAG-Sequence / RAG-Token decoding."""
