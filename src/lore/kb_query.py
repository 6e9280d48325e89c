"""The knowledge base's asking side, as methods of ``KnowledgeBase``: a question planned by a
query strategy (``lore.query``) over this knowledge base's search, passages, documents and
metadata, then answered."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from lore.config import GenerateConfig, LoreConfig, QueryConfig, StrategyName
from lore.embed.protocol import Embedder
from lore.generate.answer import Answerer
from lore.query.budget import Budget
from lore.query.classifier import RouterModel
from lore.query.protocol import CommunityReader, Planning
from lore.query.registry import retrieving_named, run_strategy, strategy_named
from lore.query.router import Route, route
from lore.rag_training import RagSystem
from lore.retrieve.filters import parse_where
from lore.store.metadata import MetadataRows
from lore.store.protocol import Store
from lore.train.catalog import Catalog, trained_name
from lore.types import Answer, AnswerMode, Filter, Hit, Passage, SearchMode, Step


class Asking:
    """Mixed into ``KnowledgeBase``, whose search and answer step these methods use."""

    config: LoreConfig
    _store: Store
    _catalog: Catalog

    @property
    def embedder(self) -> Embedder:
        raise NotImplementedError

    def search(self, query: str, k: int | None = None, mode: SearchMode | None = None,
               where: Filter | Sequence[str] | None = None, diversity: float | None = None,
               rerank: str | None = None, retrievers: Sequence[str] | None = None,
               query_encoder: str | Embedder | None = None) -> list[Hit]:
        raise NotImplementedError

    def passages(self, hits: Sequence[Hit]) -> list[Passage]:
        raise NotImplementedError

    def answerer(self, settings: GenerateConfig, query_encoder: Embedder | None = None
                 ) -> Answerer:
        raise NotImplementedError

    def rag_system(self, spec: str) -> RagSystem:
        raise NotImplementedError

    def community_reader(self, test: str, where: Filter | None = None) -> CommunityReader:
        raise NotImplementedError

    def ask(self, question: str, **options: Any) -> Answer:
        """Answer ``question`` from this knowledge base, citing its sources (the options of
        ``ask_stream``)."""
        answer = None
        for event in self.ask_stream(question, **options):
            answer = event
        assert isinstance(answer, Answer)  # ask_stream always ends with the Answer
        return answer

    def ask_stream(self, question: str, *, k: int | None = None,
                   mode: AnswerMode | None = None,
                   model: str | None = None, template: str | None = None,
                   where: Filter | Sequence[str] | None = None,
                   settings: GenerateConfig | None = None,
                   strategy: StrategyName | None = None, planning: QueryConfig | None = None,
                   show_path: Callable[[str], str] = str) -> Iterator[str | Answer]:
        """Answer text as the model writes it, then the final ``Answer``.

        Args:
            question: any language; the answer comes in the question's language.
            k: sources to retrieve (default ``generate.k``).
            mode: ``stuff``, ``rag-sequence`` or ``rag-token`` (default ``generate.mode``).
            model: a generator spec (default ``generate.model``): ``qwen-0.5b``, a ``.gguf``
                path, or ``openai:http://host:port/v1/<model>``; or a trained RAG system,
                ``trained:<name>`` (``lore train rag``): its query encoder searches and its
                answering model answers.
            template: a prompt template name (``lore.generate.prompt.TEMPLATES``).
            where: metadata filters, as for ``search``.
            settings: every generation setting at once (the arguments above override it).
            strategy: how to plan the question (default ``query.strategy``;
                ``lore.query.registry.STRATEGIES``).
            planning: every planning setting at once (budgets, hops, rewrites).
            show_path: how an answer written from metadata rows shows a stored path (a
                server hides where it keeps files).
        """
        for event in self.ask_steps(question, k=k, mode=mode, model=model, template=template,
                                    where=where, settings=settings, strategy=strategy,
                                    planning=planning, show_path=show_path):
            if not isinstance(event, Step):
                yield event

    def ask_steps(self, question: str, *, k: int | None = None,
                  mode: AnswerMode | None = None,
                  model: str | None = None, template: str | None = None,
                  where: Filter | Sequence[str] | None = None,
                  settings: GenerateConfig | None = None,
                  strategy: StrategyName | None = None, planning: QueryConfig | None = None,
                  show_path: Callable[[str], str] = str) -> Iterator[str | Step | Answer]:
        """``ask_stream``, with each ``Step`` of the strategy yielded as it is taken."""
        started = time.perf_counter()
        settings = settings or self.config.generate
        settings = replace(settings, k=k or settings.k, mode=mode or settings.mode,
                           model=model or settings.model,
                           template=template or settings.template)
        planning = planning or self.config.query
        chosen = strategy_named(strategy or planning.strategy)
        encoder = None
        if trained_name(settings.model) is not None:
            system = self.rag_system(settings.model)
            settings, encoder = replace(settings, model=system.generator), system.encoder
        plan = replace(self._planning(settings, planning, where, started, encoder),
                       show=show_path)
        yield from run_strategy(chosen, question, plan)

    def plan_search(self, query: str, strategy: StrategyName, k: int | None = None,
                    where: Filter | Sequence[str] | None = None, model: str | None = None
                    ) -> tuple[list[Hit], list[Step]]:
        """Hits for ``query`` as a retrieval strategy (``multi-query``, ``hyde``,
        ``step-back``, ``single``) finds them, and the steps it took."""
        settings = replace(self.config.generate, model=model or self.config.generate.model)
        plan = self._planning(settings, self.config.query, where, time.perf_counter())
        return retrieving_named(strategy).retrieve(query, plan, k or self.config.retrieve.k)

    def whole_documents(self, hits: Sequence[Hit]) -> list[Passage]:
        """Each hit's document, whole, once per document, in hit order."""
        firsts = {hit.chunk.doc_id: hit for hit in reversed(hits)}
        order = list(dict.fromkeys(hit.chunk.doc_id for hit in hits))
        texts = self._store.document_texts(order)
        return [Passage(firsts[doc], texts[doc], 0, len(texts[doc]))
                for doc in order if doc in texts]

    def _planning(self, settings: GenerateConfig, planning: QueryConfig,
                  where: Filter | Sequence[str] | None, started: float,
                  encoder: Embedder | None = None) -> Planning:
        answerer = self.answerer(settings, encoder)
        asked = where if isinstance(where, Filter) else parse_where(where or ())

        def search(text: str, k: int, retrievers: Sequence[str] | None = None,
                   where: Filter | None = None) -> list[Hit]:
            return self.search(text, k=k, where=asked if where is None else where,
                               retrievers=retrievers, query_encoder=encoder)

        def metadata(statement: str) -> MetadataRows:
            return self._store.metadata(statement, planning.sql_rows, planning.sql_seconds)

        budget = Budget(answerer.generator, planning.max_calls, planning.max_tokens)
        routing = self._router(planning.router)
        return Planning(search=search, read=self.passages, whole=self.whole_documents,
                        answerer=answerer, answerer_for=self.answerer, metadata=metadata,
                        budget=budget, settings=planning, k=settings.k, started=started,
                        where=asked, route=routing,
                        communities=self.community_reader(planning.relevance_test, asked))

    def _router(self, spec: str) -> Callable[[str], Route]:
        """The rules, or the trained router ``spec`` names in this knowledge base."""
        if spec == "rules":
            return route
        model = RouterModel.load(self._catalog.model(spec, "router").model_dir)
        return lambda question: model.route(question, self.embedder.embed_query(question))
