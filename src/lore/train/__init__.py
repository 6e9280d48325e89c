"""Learning from the user's own data: training pairs, mined hard negatives and the losses a
retriever is trained with.

It sits above the stages it trains (embed, retrieve, rerank) and below ``api``, which feeds it
pairs and the search it mines with.
"""
