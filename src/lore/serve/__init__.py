"""The HTTP service (``lore serve``): collections, keys, search, streaming answers,
OpenAI-compatible endpoints, MCP and a web page; a thin layer over ``lore.api``."""
