"""Contract suites, written once per protocol. A backend's test inherits one and supplies a
fixture; every backend then keeps the same promises."""

from __future__ import annotations

import numpy as np
import pytest

from lore.embed.protocol import Embedder
from lore.generate.decode import decode_steps
from lore.generate.protocol import Generator, Message, Sampling, TokenScorer
from lore.rerank.protocol import Reranker


class EmbedderContract:
    """Promises of ``lore.embed.protocol.Embedder``; subclasses provide an ``embedder`` fixture.

    Example::

        class TestHashEmbedder(EmbedderContract):
            @pytest.fixture
            def embedder(self) -> Embedder:
                return HashEmbedder()
    """

    texts = (
        "A cat sat on the mat and purred.",
        "Interest rates",
        "The committee postponed its vote on the new budget until Friday afternoon, after a "
        "long debate about school funding, road repairs and the cost of the library extension.",
        "x",
        "Photosynthesis turns light into chemical energy in the leaves of green plants.",
    )
    """Of very different lengths, so that a backend that sorts by length must restore order."""

    def test_shape_dtype_and_unit_rows(self, embedder: Embedder) -> None:
        vectors = embedder.embed_documents(list(self.texts))
        assert vectors.shape == (len(self.texts), embedder.dim)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)

    def test_query_is_a_unit_vector(self, embedder: Embedder) -> None:
        vector = embedder.embed_query("where did the cat sit?")
        assert vector.shape == (embedder.dim,)
        assert vector.dtype == np.float32
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3

    def test_empty_list_gives_empty_matrix(self, embedder: Embedder) -> None:
        vectors = embedder.embed_documents([])
        assert vectors.shape == (0, embedder.dim)
        assert vectors.dtype == np.float32

    def test_order_is_preserved(self, embedder: Embedder) -> None:
        together = embedder.embed_documents(list(self.texts))
        alone = np.stack([embedder.embed_documents([text])[0] for text in self.texts])
        similarity = together @ alone.T
        assert list(similarity.argmax(axis=1)) == list(range(len(self.texts)))
        assert float(np.diag(similarity).min()) > 0.99

    def test_deterministic(self, embedder: Embedder) -> None:
        first = embedder.embed_documents(list(self.texts))
        np.testing.assert_allclose(embedder.embed_documents(list(self.texts)), first, atol=1e-6)
        np.testing.assert_allclose(embedder.embed_query(self.texts[0]),
                                   embedder.embed_query(self.texts[0]), atol=1e-6)

    def test_matching_document_scores_higher(self, embedder: Embedder) -> None:
        query = embedder.embed_query("Where did the cat sit?")
        match, other = embedder.embed_documents(["The cat sat on the mat.",
                                                 "Stock markets fell sharply on Monday."])
        assert float(match @ query) > float(other @ query)

    def test_count_tokens(self, embedder: Embedder) -> None:
        counts = embedder.count_tokens(list(self.texts))
        assert len(counts) == len(self.texts)
        assert all(isinstance(count, int) and count > 0 for count in counts)
        assert counts[2] > counts[0] > counts[1]
        assert embedder.count_tokens([]) == []

    def test_long_text_is_truncated_not_rejected(self, embedder: Embedder) -> None:
        long = " ".join(["word"] * (4 * embedder.max_tokens))
        assert embedder.count_tokens([long])[0] > embedder.max_tokens
        vectors = embedder.embed_documents([long, "short"])
        assert vectors.shape == (2, embedder.dim)

    def test_identity(self, embedder: Embedder) -> None:
        assert isinstance(embedder.name, str) and embedder.name
        assert embedder.dim > 0
        assert embedder.max_tokens > 0


class RerankerContract:
    """Promises of ``lore.rerank.protocol.Reranker``; subclasses provide a ``reranker``
    fixture.

    Example::

        class TestOverlapReranker(RerankerContract):
            @pytest.fixture
            def reranker(self) -> Reranker:
                return OverlapReranker()
    """

    query = "What do cats eat?"
    passages = (
        "Cats are carnivores: domestic cats eat meat, such as fish, chicken and mice.",
        "The stock market fell sharply on Monday after the central bank raised rates.",
        "x",
        "The committee postponed its vote on the new budget until Friday afternoon, after a "
        "long debate about school funding, road repairs and the cost of the library extension.",
    )
    """Of very different lengths, so that a backend that batches by length must restore
    order; the first is the relevant one."""

    def test_shape_dtype_and_finite(self, reranker: Reranker) -> None:
        scores = reranker.score(self.query, list(self.passages))
        assert scores.shape == (len(self.passages),)
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()

    def test_empty_list_gives_empty_scores(self, reranker: Reranker) -> None:
        scores = reranker.score(self.query, [])
        assert scores.shape == (0,)

    def test_order_is_preserved(self, reranker: Reranker) -> None:
        together = reranker.score(self.query, list(self.passages))
        alone = np.array([reranker.score(self.query, [p])[0] for p in self.passages])
        np.testing.assert_allclose(together, alone, rtol=1e-3, atol=1e-3)

    def test_deterministic(self, reranker: Reranker) -> None:
        first = reranker.score(self.query, list(self.passages))
        reranker.score("an unrelated query about tax law", list(self.passages[1:]))
        np.testing.assert_allclose(reranker.score(self.query, list(self.passages)), first,
                                   rtol=1e-4, atol=1e-4)

    def test_long_passage_is_truncated_not_rejected(self, reranker: Reranker) -> None:
        long = " ".join(["word"] * 5000)
        scores = reranker.score(self.query, [long, self.passages[0]])
        assert scores.shape == (2,)
        assert np.isfinite(scores).all()

    def test_identity(self, reranker: Reranker) -> None:
        assert isinstance(reranker.name, str) and reranker.name


class GeneratorContract:
    """Promises of ``lore.generate.protocol.Generator``; subclasses provide a ``generator``
    fixture. A generator that is also a ``TokenScorer`` inherits ``TokenScorerContract``.

    Example::

        class TestOpenAIGenerator(GeneratorContract):
            @pytest.fixture(scope="class")
            def generator(self, server_url: str) -> Generator:
                return OpenAIGenerator(f"{server_url}/v1/smollm2")
    """

    question = (Message("user", "What is the capital of France?"),)
    story = (Message("user", "Write a long story about a cat who lives in a library."),)
    """Long answers, so that a small ``max_tokens`` or a stop string cuts them."""
    max_tokens_slack = 1.0
    """How far ``count_tokens`` of an answer cut at ``max_tokens`` may read past it: 1 for a
    backend that counts with the model's own tokenizer; a backend that estimates, erring
    high, sets its estimate's overshoot."""

    def test_pieces_are_non_empty_text(self, generator: Generator) -> None:
        pieces = list(generator.stream(self.question, Sampling(max_tokens=24)))
        assert pieces and all(isinstance(piece, str) and piece for piece in pieces)
        assert "".join(pieces).strip()

    def test_greedy_is_deterministic(self, generator: Generator) -> None:
        first = "".join(generator.stream(self.question, Sampling(max_tokens=24)))
        assert "".join(generator.stream(self.question, Sampling(max_tokens=24))) == first

    def test_max_tokens_bounds_the_answer(self, generator: Generator) -> None:
        longer = "".join(generator.stream(self.story, Sampling(max_tokens=40)))
        short = "".join(generator.stream(self.story, Sampling(max_tokens=5)))
        assert short and longer.startswith(short) and len(short) < len(longer)
        assert generator.count_tokens(short) <= 5 * self.max_tokens_slack

    def test_stop_string_is_not_yielded(self, generator: Generator) -> None:
        full = "".join(generator.stream(self.story, Sampling(max_tokens=40)))
        words = full.split()
        assert len(words) >= 4, f"the answer is too short to cut: {full!r}"
        stop = " " + words[len(words) // 2]
        pieces = list(generator.stream(self.story, Sampling(max_tokens=40, stop=(stop,))))
        text = "".join(pieces)
        assert stop not in text
        assert text == full[:full.index(stop)]

    def test_count_tokens_is_positive_and_grows(self, generator: Generator) -> None:
        text = ("The committee postponed its vote on the new budget until Friday, after a long "
                "debate about school funding. 北京是中国的首都。 def f(x): return x + 1")
        words = text.split(" ")
        # Cut between words: mid-word, a real tokenizer may take more tokens for "wor" than
        # for "world".
        counts = [generator.count_tokens(" ".join(words[:n])) for n in range(1, len(words) + 1)]
        assert all(isinstance(count, int) and count > 0 for count in counts)
        assert counts == sorted(counts)
        assert generator.count_tokens(text) > generator.count_tokens("The committee")

    def test_identity(self, generator: Generator) -> None:
        assert isinstance(generator.name, str) and generator.name
        assert generator.context_tokens > 0


class TokenScorerContract(GeneratorContract):
    """``GeneratorContract`` plus the promises of ``lore.generate.protocol.TokenScorer``, for
    a generator that scores tokens too (what RAG-Sequence, RAG-Token and question likelihood
    read).

    Example::

        class TestLocalGenerator(TokenScorerContract):
            @pytest.fixture(scope="class")
            def generator(self) -> Generator:
                return LocalGenerator("smollm2")
    """

    def test_token_scores_decode_to_the_streamed_answer(self, generator: Generator) -> None:
        scorer = self.token_scorer(generator)
        sampling = Sampling(max_tokens=24)
        with scorer.reserve(1):
            steps = list(decode_steps(scorer, scorer.prompt_tokens(self.question), sampling))
        assert steps and all(np.isfinite(s.logprob) and s.logprob <= 0.0 for s in steps)
        text = b"".join(scorer.piece(step.token) for step in steps).decode("utf-8", "replace")
        assert text == "".join(generator.stream(self.question, sampling))

    def test_every_slot_scores_the_same_tokens_alike(self, generator: Generator) -> None:
        scorer = self.token_scorer(generator)
        tokens = scorer.prompt_tokens(self.question)
        with scorer.reserve(2):
            first, second = scorer.next_logits(tokens, 0), scorer.next_logits(tokens, 1)
        assert first.ndim == 1 and first.shape == second.shape
        assert_same_next_token(first, second)

    def test_text_logprob_scores_text_of_the_prompt(self, generator: Generator) -> None:
        scorer = self.token_scorer(generator)
        value = scorer.text_logprob(self.question, self.question[-1].content)
        assert np.isfinite(value) and value <= 0.0
        with pytest.raises(ValueError, match="not in the prompt"):
            scorer.text_logprob(self.question, "Who wrote Hamlet?")

    def test_token_logprobs_sum_to_the_text_logprob(self, generator: Generator) -> None:
        scorer = self.token_scorer(generator)
        text = self.question[-1].content
        tokens = scorer.text_token_logprobs(self.question, text)
        assert tokens.ndim == 1 and len(tokens) >= 1 and (tokens <= 0).all()
        assert float(tokens.sum()) == pytest.approx(scorer.text_logprob(self.question, text),
                                                    abs=1e-4)

    @staticmethod
    def token_scorer(generator: Generator) -> TokenScorer:
        assert isinstance(generator, TokenScorer), f"{generator.name} is not a TokenScorer"
        return generator


def assert_same_next_token(first: np.ndarray, second: np.ndarray, most: float = 0.05) -> None:
    """Two next-token logit vectors pick the same token and give distributions within
    ``most`` total variation. Not equal values: llama.cpp evaluates one token and a batch of
    tokens, or one sequence and several, with different kernels on some CPUs (those without
    AVX-512), whose sums round differently; a wrong context moves the distribution far more."""
    def distribution(logits: np.ndarray) -> np.ndarray:
        shifted = np.exp(logits.astype(np.float64) - logits.max())
        return np.asarray(shifted / shifted.sum())

    assert int(first.argmax()) == int(second.argmax())
    distance = float(np.abs(distribution(first) - distribution(second)).sum()) / 2
    assert distance < most, f"next-token distributions {distance:.3f} apart (at most {most})"
