"""The concept graph: concepts linked by the chunks they share, grouped into hierarchical
communities (LazyGraphRAG's index, built with no model).

``lore.store.concepts`` keeps which concepts each chunk mentions; this package turns that
incidence into a weighted co-occurrence graph (``build``), finds its communities with Leiden
(``communities``) and writes it for other tools (``export``). It depends on nothing of lore's
above ``lore.text``, so the store can build the graph when it saves the concept index.
"""
