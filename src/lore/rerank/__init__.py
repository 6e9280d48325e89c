"""Second-stage ranking: a ``Reranker`` scores (query, passage) pairs and ``rerank`` reorders
the first hits of a search by those scores.

Backends (``registry.RERANKERS``): ``cross-encoder:<dir or hub id>`` runs a sentence-transformers
CrossEncoder in PyTorch; ``llm:<model>`` asks a local GGUF model whether each passage is
relevant (``lore.rerank.llm``); ``overlap`` is the shipped test fake.
"""
