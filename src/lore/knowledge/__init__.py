"""The model-built knowledge graph (``lore index --graph llm``): a local model reads every
prose chunk once and names its entities and the relations between them; the outputs are kept
in a ledger beside the store, so a run resumes where it stopped and a changed chunk alone is
read again. ``lore.graph.knowledge`` merges them into a graph; its largest communities get a
summary written by the same model.
"""
