"""The command line: a thin click layer over ``lore.api``.

Errors lore raises on purpose become one line on stderr and exit code 2; nothing else is caught.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import click

from lore import api
from lore.cli_common import LoreUsageError, interruptible, json_option, kb_option, opened
from lore.cli_graph import build_knowledge, graph_group
from lore.cli_mcp import mcp
from lore.cli_output import (
    ProgressListener,
    QueryProgress,
    display_path,
    print_check,
    print_eval_reports,
    print_hits,
    print_qa_report,
    print_report,
    print_sources,
    print_status,
    print_step,
    stderr_status,
    stream_answer,
)
from lore.cli_serve import keys, serve
from lore.cli_train import models_group, train_group
from lore.config import AnnChoice, AnswerModeName, LoreConfig, StrategyName
from lore.doctor import exit_status, run_checks
from lore.errors import LoreError
from lore.eval.answers import run_qa, write_qa_traces
from lore.eval.beir import load_beir
from lore.eval.qa import SplitSide, aggregate, by_strategy, load_qa
from lore.eval.report import write_comparison
from lore.eval.retrieval import Aggregate, EvalSettings, evaluate, open_indexed, write_traces
from lore.models.files import default_cache_dir
from lore.query.registry import RETRIEVING, STRATEGY_NAMES
from lore.records import answer_record, plain, step_record
from lore.types import SearchMode, Step

if TYPE_CHECKING:
    from lore.ray_ingest import RaySettings

SEARCH_STRATEGIES = tuple(RETRIEVING)


@click.group()
@click.version_option(package_name="lore")
def main() -> None:
    """lore: index documents and code, then search them."""
    # jieba sets its logger to DEBUG when imported and announces loading its dictionary;
    # import it first so the command line can quiet it.
    import jieba

    jieba.setLogLevel(logging.WARNING)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@kb_option
@click.option("--model", envvar="LORE_MODEL", help="Embedder for a new knowledge base.")
@click.option("--include", multiple=True, help="Only files matching this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Skip files matching this glob (repeatable).")
@click.option("--hidden", is_flag=True, help="Also index hidden files and folders.")
@click.option("--no-gitignore", is_flag=True, help="Index files that .gitignore excludes.")
@click.option("--follow-links", is_flag=True,
              help="Also index files that symlinks point to outside the given folders.")
@click.option("--jsonl", is_flag=True, help="Stream one JSON line per indexed document.")
@click.option("--ann", type=click.Choice(get_args(AnnChoice)), envvar="LORE_ANN",
              help="Vector index (default auto: by size). Naming a kind other than the saved "
                   "one rebuilds it.")
@click.option("--graph", type=click.Choice(["concepts", "llm"]), default="concepts",
              show_default=True,
              help="concepts: the concept graph only (no model); llm: also a knowledge graph "
                   "of entities and relations read by the local model from every prose chunk "
                   "(slow: the cost is printed before and after; resumable).")
@click.option("--graph-model", envvar="LORE_GRAPH_MODEL",
              help="The model --graph llm reads with (default: the answering model).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="auto", metavar="[ADDRESS]",
              help="Parse, chunk and embed on a Ray cluster: --ray (a cluster running here, "
                   "else a new one), --ray local, or --ray ray://head:10001. Needs "
                   "lore[ray]; files must be readable at the same paths on every node.")
@click.option("--ray-actors", type=click.IntRange(1), metavar="N",
              help="Embedding actors on the cluster, one CPU each (default: one per CPU).")
@json_option
def index(paths: tuple[Path, ...], kb: Path | None, model: str | None, include: tuple[str, ...],
          exclude: tuple[str, ...], hidden: bool, no_gitignore: bool, follow_links: bool,
          jsonl: bool, ann: AnnChoice | None, graph: str, graph_model: str | None,
          ray_address: str | None, ray_actors: int | None, as_json: bool) -> None:
    """Index files and folders. Unchanged files cost nothing; vanished files leave."""
    config = LoreConfig.from_env(os.environ)
    config = dataclasses.replace(config, ingest=dataclasses.replace(
        config.ingest, include=include, exclude=exclude, hidden=hidden,
        respect_gitignore=not no_gitignore, follow_outside_links=follow_links))
    if ann is not None:
        config = dataclasses.replace(config, index=dataclasses.replace(config.index, ann=ann))
    listener = ProgressListener(events=jsonl, bars=not (as_json or jsonl))
    with opened(kb, model, config=config, create=True) as base, interruptible(
            "run the same command again to go on: what was indexed is kept, and files "
            "already indexed are skipped"):
        with listener:
            report = base.index(list(paths), listener, ray=ray_settings(ray_address, ray_actors),
                                keep_derived=False)
        if not (as_json or jsonl):
            print_report(report)
        knowledge = build_knowledge(base, graph_model, as_json or jsonl) \
            if graph == "llm" else None
    if as_json:
        click.echo(json.dumps({**plain(report), **({"knowledge": knowledge} if knowledge else {})},
                              ensure_ascii=False))


def ray_settings(address: str | None, actors: int | None) -> RaySettings | None:
    if address is None:
        if actors is not None:
            raise LoreUsageError("--ray-actors needs --ray")
        return None
    from lore.ray_ingest import RaySettings

    return RaySettings(address=address, actors=actors)


@main.command()
@click.argument("query")
@kb_option
@click.option("-k", "k", type=int, default=10, show_default=True, help="Number of hits.")
@click.option("--mode", type=click.Choice(api.MODES), default="hybrid", show_default=True)
@click.option("--where", multiple=True,
              help="Filter: path=GLOB, type=FORMAT, language=LANG, kind=code|prose, "
                   "modified>=DATE (repeatable).")
@click.option("--diversity", type=click.FloatRange(0, 1),
              help="Maximal marginal relevance, 0..1: push down chunks like better ones.")
@click.option("--rerank", envvar="LORE_RERANKER",
              help="Rerank the top hits: llm:qwen-0.5b, cross-encoder:DIR_OR_HUB_ID.")
@click.option("--strategy", type=click.Choice(SEARCH_STRATEGIES),
              help="Rewrite the query with the answering model first: multi-query, hyde or "
                   "step-back (searched beside the query, fused).")
@click.option("--model", envvar="LORE_GENERATOR", help="The model a --strategy writes with.")
@click.option("--retrievers", help="Retrievers to run and fuse, comma-separated, in place of "
                                   "--mode's: lexical, dense, graph (concepts, walked).")
@json_option
def search(query: str, kb: Path | None, k: int, mode: SearchMode, where: tuple[str, ...],
           diversity: float | None, rerank: str | None, strategy: StrategyName | None,
           model: str | None, retrievers: str | None, as_json: bool) -> None:
    """Search the knowledge base: ranked hits with their source spans and scores."""
    steps: list[Step] = []
    with opened(kb) as base:
        if strategy and strategy != "single":
            try:
                hits, steps = base.plan_search(query, strategy, k=k, where=list(where),
                                               model=model)
            except LoreError as error:
                raise LoreUsageError(str(error)) from None
        else:
            chosen = [name.strip() for name in retrievers.split(",")] if retrievers else None
            hits = base.search(query, k=k, mode=mode, where=list(where),
                               diversity=diversity, rerank=rerank, retrievers=chosen)
    if as_json:
        click.echo(json.dumps({"query": query, "mode": mode, "strategy": strategy or "single",
                               "steps": [step_record(s) for s in steps],
                               "hits": [plain(h) for h in hits]}, ensure_ascii=False))
    else:
        for step in steps:
            print_step(step)
        print_hits(hits)


strategy_option = click.option(
    "--strategy", type=click.Choice(STRATEGY_NAMES), envvar="LORE_STRATEGY",
    help="How to plan the question: single (default), auto (chosen per question), "
         "multi-query, hyde, step-back, decompose, iterative, reflect, long-context, sql, "
         "global (about the whole collection), local (about a named thing; both LazyGraphRAG "
         "over the concept graph).")
question_likelihood_option = click.option(
    "--question-likelihood", "question_likelihood", type=click.FloatRange(min=0),
    help="Weight of how likely the model finds the question after each source, in the "
         "sources' order (default 0.1 with a local model, 0 with a server; 0 turns it off).")


@main.command()
@click.argument("question")
@kb_option
@click.option("--model", envvar="LORE_GENERATOR",
              help="Answering model: qwen-0.5b (default), qwen-1.5b, smollm2, a .gguf path, "
                   "openai:http://host:port/v1/<model>, or a system from `lore train rag`, "
                   "trained:<name>.")
@click.option("--mode", type=click.Choice(get_args(AnswerModeName)), envvar="LORE_ANSWER_MODE",
              help="stuff (default): all sources in one prompt; rag-sequence / rag-token: "
                   "marginalise over sources (local models).")
@click.option("-k", "k", type=click.IntRange(1, 50), help="Sources to retrieve (default 5).")
@click.option("--template", help="Prompt template: answer (default) or short.")
@click.option("--where", multiple=True, help="Only sources matching, e.g. path=docs/*.")
@question_likelihood_option
@strategy_option
@click.option("--budget", type=click.IntRange(min=0),
              help="Relevance tests global and local may spend (default 200): their cost "
                   "knob.")
@click.option("--show-steps", is_flag=True,
              help="Print each step of the strategy as it is taken (stderr).")
@json_option
def ask(question: str, kb: Path | None, model: str | None, mode: AnswerModeName | None,
        k: int | None, template: str | None, where: tuple[str, ...],
        question_likelihood: float | None, strategy: StrategyName | None, budget: int | None,
        show_steps: bool, as_json: bool) -> None:
    """Answer a question from the knowledge base, citing numbered sources."""
    with opened(kb) as base:
        settings = base.config.generate
        if question_likelihood is not None:
            settings = dataclasses.replace(settings, question_likelihood=question_likelihood)
        planning = base.config.query
        if budget is not None:
            planning = dataclasses.replace(planning, relevance_budget=budget)
        answering = base.ask_steps if show_steps else base.ask_stream
        events = answering(question, k=k, mode=mode, model=model, template=template,
                           where=list(where), settings=settings, strategy=strategy,
                           planning=planning)
        try:
            answer = stream_answer(events, show=not as_json)
        except LoreError as error:
            raise LoreUsageError(str(error)) from None
    if as_json:
        click.echo(json.dumps(answer_record(answer, display_path), ensure_ascii=False))
    else:
        print_sources(answer)


@main.command()
@kb_option
@json_option
def status(kb: Path | None, as_json: bool) -> None:
    """Documents, chunks, sizes, embedding model and last update."""
    with opened(kb) as base:
        state = base.status()
    if as_json:
        click.echo(json.dumps(plain(state)))
    else:
        print_status(state)


@main.command()
@json_option
def doctor(as_json: bool) -> None:
    """Check the install: packages, models, the llama.cpp build against this CPU, and a real
    prompt through each local model. Exit status 1 when a check fails."""
    checks = []
    with stderr_status("checking") as status:
        for check in run_checks():
            checks.append(check)
            status.update(f"checked {check.name}")
            if not as_json:
                print_check(check)
    if as_json:
        click.echo(json.dumps({"ok": exit_status(checks) == 0,
                               "checks": [dataclasses.asdict(c) for c in checks]}))
    raise SystemExit(exit_status(checks))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@kb_option
@json_option
def rm(paths: tuple[Path, ...], kb: Path | None, as_json: bool) -> None:
    """Remove the documents of these files or folders."""
    with opened(kb) as base:
        removed = base.remove(list(paths))
    if as_json:
        click.echo(json.dumps({"removed": removed}))
    elif removed == 0:
        raise LoreUsageError(f"nothing indexed under {', '.join(map(str, paths))}; "
                             "`lore status` shows what the knowledge base holds")
    else:
        click.echo(f"removed {removed} document{'s' if removed != 1 else ''}")


@main.command()
@click.option("--model", required=True, help="The embedder to switch to.")
@kb_option
def reembed(model: str, kb: Path | None) -> None:
    """Embed every chunk again with another model (after changing your mind on --model)."""
    with opened(kb, model, switch_model=True) as base, ProgressListener() as listener, \
            interruptible("run the same command again to go on: it embeds only the chunks "
                          "not yet embedded with the new model"):
        count = base.reembed(listener)
    click.echo(f"re-embedded {count} views with {model}")


@main.group(name="eval")
def eval_group() -> None:
    """Measure lore on benchmark sets (BEIR layout)."""


@eval_group.command(name="retrieval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="test", show_default=True, help="Judgments: qrels/SPLIT.tsv.")
@click.option("--mode", type=click.Choice(api.MODES), default="hybrid", show_default=True)
@click.option("--compare", help="Several modes, comma-separated, e.g. lexical,dense,hybrid.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write retrieval.md, retrieval.json and recall_latency.png here.")
@click.option("--trace", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each query's hits, scores and metrics here (JSON lines).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N judged queries.")
@click.option("--model", envvar="LORE_MODEL", help="Embedder for the corpus index.")
@click.option("--aggregate", type=click.Choice(["max", "first"]), default="max",
              show_default=True, help="Chunk hits to documents: best chunk, or opening chunk.")
@click.option("--ignore-identical-ids", is_flag=True,
              help="Drop hits whose document id is the query id (ArguAna-style sets).")
@click.option("--strategy", type=click.Choice(SEARCH_STRATEGIES), default="single",
              show_default=True, help="Rewrite each query with the answering model "
                                      "(LORE_GENERATOR) first: multi-query, hyde, step-back.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path),
              help="Where corpus indexes are kept (default: ~/.cache/lore/eval).")
@json_option
def eval_retrieval(directory: Path, split: str, mode: SearchMode, compare: str | None,
                   out: Path | None, trace: Path | None, limit: int | None, model: str | None,
                   aggregate: Aggregate, ignore_identical_ids: bool, strategy: StrategyName,
                   cache: Path | None, as_json: bool) -> None:
    """nDCG@10, Recall@10/100 and MRR@10 of lore's search on a BEIR folder."""
    modes = _modes(compare) if compare else [mode]
    config = LoreConfig.from_env(os.environ)
    cache = cache or default_cache_dir(os.environ) / "eval"
    try:
        dataset = load_beir(directory, split, limit)
        listener = ProgressListener(bars=not as_json)
        with listener:
            kb = open_indexed(dataset, cache, config, model, listener)
        reports, traces = [], []
        with kb:
            for each in modes:
                settings = EvalSettings(each, aggregate, ignore_identical_ids, strategy)
                with QueryProgress(len(dataset.queries), f"{each} queries",
                                   enabled=not as_json) as progress:
                    report, run = evaluate(kb, dataset, settings, progress.advance)
                reports.append(report)
                traces.extend(run)
    except LoreError as error:
        raise LoreUsageError(str(error)) from None
    if trace is not None:
        write_traces(traces, trace)
    written = write_comparison(reports, out) if out is not None else []
    if as_json:
        body = [plain(r) for r in reports]
        click.echo(json.dumps(body[0] if len(body) == 1 else body, ensure_ascii=False))
        return
    print_eval_reports(reports)
    for path in written:
        click.echo(f"wrote {path}")


@eval_group.command(name="qa")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--limit", type=click.IntRange(min=1), help="Only N questions.")
@click.option("--seed", type=int, help="Sample the N questions at random with this seed "
                                       "(default: the first N).")
@click.option("--split", type=click.Choice(["train", "test"]),
              help="Only one side of lore's split by article (lore.train.qa_split), before "
                   "--limit: test questions are those `lore train rag` never reads.")
@click.option("--mode", type=click.Choice(get_args(AnswerModeName)), default="stuff",
              show_default=True)
@click.option("--model", envvar="LORE_GENERATOR", help="Answering model (default qwen-0.5b), "
              "or a trained RAG system, trained:<name>.")
@click.option("--template", default="short", show_default=True,
              help="Prompt template; short asks for the answer span, as the metrics expect.")
@click.option("-k", "k", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Sources per question (3 suits the 0.5B default model best).")
@click.option("--answer-tokens", type=click.IntRange(1), default=64, show_default=True,
              help="Longest answer, in tokens.")
@question_likelihood_option
@click.option("--gold-context", is_flag=True,
              help="Reference run: answer from the gold paragraphs instead of retrieved ones.")
@click.option("--trace", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each question's sources, prompt, answer and scores (JSON lines).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path),
              help="Where corpus indexes are kept (default: ~/.cache/lore/eval).")
@strategy_option
@json_option
def eval_qa(directory: Path, limit: int | None, seed: int | None, split: SplitSide | None,
            mode: AnswerModeName,
            model: str | None, template: str, k: int, answer_tokens: int,
            question_likelihood: float | None, gold_context: bool, trace: Path | None,
            cache: Path | None, strategy: StrategyName | None, as_json: bool) -> None:
    """Exact match, F1, answer-in-context, citation precision and latency of lore's answers
    on a QA folder (qa.jsonl beside a BEIR corpus)."""
    config = LoreConfig.from_env(os.environ)
    settings = dataclasses.replace(config.generate, mode=mode, template=template, k=k,
                                   model=model or config.generate.model,
                                   answer_tokens=answer_tokens)
    if question_likelihood is not None:
        settings = dataclasses.replace(settings, question_likelihood=question_likelihood)
    cache = cache or default_cache_dir(os.environ) / "eval"
    try:
        qa = load_qa(directory, limit, seed, split)
        dataset = load_beir(directory, "test", 1)
        with ProgressListener(bars=not as_json) as listener:
            kb = open_indexed(dataset, cache, config, None, listener)
        with kb, QueryProgress(len(qa.items), "questions", enabled=not as_json) as progress:
            traces = list(run_qa(kb, qa, settings, progress.advance, gold_context,
                                 dataset.corpus, strategy))
    except LoreError as error:
        raise LoreUsageError(str(error)) from None
    if trace is not None:
        write_qa_traces(traces, trace)
    records = [t.record for t in traces]
    scores = aggregate(records).as_dict()
    report = {"dataset": qa.name, "mode": mode, "model": settings.model, "template": template,
              "k": k, "gold_context": gold_context, "seed": seed, "split": split,
              "strategy": strategy or config.query.strategy, "metrics": scores,
              "by_strategy": {name: each.as_dict()
                              for name, each in by_strategy(records).items()}}
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        print_qa_report(report)


def _modes(compare: str) -> list[SearchMode]:
    modes = [m.strip() for m in compare.split(",") if m.strip()]
    unknown = [m for m in modes if m not in api.MODES]
    if unknown or not modes:
        raise LoreUsageError(f"--compare {compare!r}: choose modes from {', '.join(api.MODES)}")
    return modes  # type: ignore[return-value]


main.add_command(serve)
main.add_command(mcp)
main.add_command(keys)
main.add_command(train_group)
main.add_command(models_group)
main.add_command(graph_group)


if __name__ == "__main__":
    main()
