import random

import pytest

from lore.eval.metrics import mrr_at_k, ndcg_at_k, recall_at_k

pytrec_eval = pytest.importorskip("pytrec_eval")


def random_run(seed: int) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(60)]
    run, qrels = {}, {}
    for q in range(40):
        qid = f"q{q}"
        run[qid] = rng.sample(docs, 25)
        qrels[qid] = {d: rng.choice([1, 1, 2]) for d in rng.sample(docs, rng.randint(1, 5))}
    return run, qrels


def reference(run: dict[str, list[str]], qrels: dict[str, dict[str, int]], measure: str
              ) -> dict[str, float]:
    scored = {q: {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
              for q, ranked in run.items()}
    results = pytrec_eval.RelevanceEvaluator(qrels, {measure.split(".")[0]}).evaluate(scored)
    key = measure.replace(".", "_")
    return {q: values[key] for q, values in results.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ndcg_and_recall_agree_with_trec_eval(seed: int) -> None:
    run, qrels = random_run(seed)
    for k in (10, 20):
        ours = ndcg_at_k(run, qrels, k).per_query
        theirs = reference(run, qrels, f"ndcg_cut.{k}")
        assert all(ours[q] == pytest.approx(theirs[q], abs=1e-4) for q in qrels)
        ours = recall_at_k(run, qrels, k).per_query
        theirs = reference(run, qrels, f"recall.{k}")
        assert all(ours[q] == pytest.approx(theirs[q], abs=1e-4) for q in qrels)


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant() -> None:
    run = {"a": ["x", "y", "z"], "b": ["x"]}
    qrels = {"a": {"z": 1}, "b": {"q": 1}}
    result = mrr_at_k(run, qrels, 10)
    assert result.per_query == {"a": pytest.approx(1 / 3), "b": 0.0}
    assert result.mean == pytest.approx(1 / 6)
