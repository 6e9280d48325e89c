"""Text analysis shared by the stages: BM25 terms, scripts and languages, sentences.

It sits below every stage (ingest, retrieve, generate all read text the same way) and imports
nothing from them.
"""
