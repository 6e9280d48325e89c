"""The command line through click's CliRunner, over real files and a real SQLite store."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import lore
from lore.cli import main
from lore.generate.answer import NOT_FOUND
from lore.testing.fakes import ScriptedGenerator

DOC = "# Caching\n\n## Invalidation\n\nExpired entries are removed on read.\n"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("LORE_HOME", raising=False)
    monkeypatch.setenv("LORE_MODEL", "hash")
    return CliRunner()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "caching.md").write_text(DOC)
    (root / "empty.bin").write_bytes(b"\x00" * 64)
    return root


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_index_search_status_rm_with_json(runner: CliRunner, corpus: Path, tmp_path: Path) -> None:
    kb = str(tmp_path / "kb")
    code, out, _ = invoke(runner, "index", str(corpus), "--kb", kb, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["documents_added"] == 1 and len(report["skipped"]) == 1
    code, out, _ = invoke(runner, "search", "expired entries", "--kb", kb, "--json", "-k", "2")
    hits = json.loads(out)["hits"]
    assert code == 0 and hits[0]["path"].endswith("caching.md")
    assert hits[0]["chunk"]["section"] == ["Caching", "Invalidation"]
    assert set(hits[0]["scores"]) == {"lexical", "dense"}
    code, out, _ = invoke(runner, "status", "--kb", kb, "--json")
    state = json.loads(out)
    assert (state["documents"], state["embedder"]) == (1, "hash")
    code, out, _ = invoke(runner, "rm", str(corpus / "caching.md"), "--kb", kb, "--json")
    assert json.loads(out) == {"removed": 1}


def test_human_output_names_the_location_and_scores(runner: CliRunner, corpus: Path,
                                                     tmp_path: Path) -> None:
    kb = str(tmp_path / "kb")
    code, out, err = invoke(runner, "index", str(corpus), "--kb", kb)
    assert code == 0 and "1 documents added" in out and "empty.bin" in err
    code, out, _ = invoke(runner, "search", "expired", "--kb", kb, "--mode", "lexical")
    assert code == 0 and "caching.md:3-5" in out and "lexical" in out and "Invalidation" in out


def test_kb_from_environment(runner: CliRunner, corpus: Path, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORE_HOME", str(tmp_path / "home-kb"))
    assert invoke(runner, "index", str(corpus))[0] == 0
    assert (tmp_path / "home-kb" / "lore.db").exists()


def test_jsonl_streams_one_event_per_document(runner: CliRunner, corpus: Path,
                                              tmp_path: Path) -> None:
    code, out, _ = invoke(runner, "index", str(corpus), "--kb", str(tmp_path / "kb"), "--jsonl")
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [e["event"] for e in events] == ["skipped", "indexed"]


@pytest.mark.parametrize("args, message", [
    (["search", ""], "query is empty"),
    (["search", "x", "-k", "0"], "out of range"),
    (["search", "x", "--where", "colour=red"], "unknown filter field"),
    (["rm", "nowhere"], "nothing indexed"),
])
def test_bad_input_is_one_line_and_exit_code_2(runner: CliRunner, tmp_path: Path, corpus: Path,
                                               args: list[str], message: str) -> None:
    assert invoke(runner, "index", str(corpus), "--kb", str(tmp_path / "kb"))[0] == 0
    code, _, err = invoke(runner, *args, "--kb", str(tmp_path / "kb"))
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["search", "x"], ["ask", "x?"], ["status"], ["rm", "a"]])
def test_a_mistyped_kb_is_an_error_not_an_empty_one(runner: CliRunner, tmp_path: Path,
                                                    command: list[str]) -> None:
    code, _, err = invoke(runner, *command, "--kb", str(tmp_path / "kbb"))
    assert code == 2 and "no knowledge base at" in err and "lore index" in err
    assert not (tmp_path / "kbb").exists()


@pytest.mark.parametrize("kb", ["afile/sub", "/proc/newdir", "/sys/newdir"])
def test_a_kb_folder_that_cannot_be_made_is_one_line(runner: CliRunner, tmp_path: Path,
                                                     corpus: Path, kb: str) -> None:
    (tmp_path / "afile").write_text("x")
    path = tmp_path / kb if kb.startswith("afile") else Path(kb)
    code, _, err = invoke(runner, "index", str(corpus), "--kb", str(path))
    assert code == 2 and "cannot create the knowledge base folder" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_file_as_kb_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    code, _, err = invoke(runner, "status", "--kb", str(path))
    assert code == 2 and "is a file" in err


def test_a_store_from_a_newer_lore_is_refused(runner: CliRunner, corpus: Path,
                                              tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    invoke(runner, "index", str(corpus), "--kb", str(kb))
    with sqlite3.connect(kb / "lore.db") as db:
        db.execute("PRAGMA user_version = 99")
    code, _, err = invoke(runner, "status", "--kb", str(kb))
    assert code == 2 and "newer lore" in err and "pip install -U" in err


def test_a_missing_input_path_is_reported(runner: CliRunner, tmp_path: Path) -> None:
    code, _, err = invoke(runner, "index", str(tmp_path / "absent"), "--kb", str(tmp_path / "kb"))
    assert code == 2 and "absent" in err


def test_ann_option_picks_the_index_kind_and_rebuilds_on_change(runner: CliRunner,
                                                                 corpus: Path,
                                                                 tmp_path: Path) -> None:
    kb = str(tmp_path / "kb")
    for ann in ("lsh", "ivfpq", "exact"):
        code, _, _ = invoke(runner, "index", str(corpus), "--kb", kb, "--ann", ann)
        assert code == 0
        code, out, _ = invoke(runner, "status", "--kb", kb, "--json")
        assert json.loads(out)["ann"] == ann
        code, out, _ = invoke(runner, "search", "expired entries", "--kb", kb, "--json",
                              "--mode", "dense")
        assert json.loads(out)["hits"][0]["path"].endswith("caching.md")
    code, _, err = invoke(runner, "index", str(corpus), "--kb", kb, "--ann", "annoy")
    assert code == 2 and "ivfpq" in err


def test_terminal_control_text_in_files_and_names_is_printed_inert(runner: CliRunner,
                                                                   tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    hostile = notes / "clear\x1b[2Jscreen.txt"
    hostile.write_text("passwd lines: root:x:0:0 and \x1b]0;pwned\x07 a retitled window, "
                       "and \u202eevil\u202c reversed.\n")
    kb = str(tmp_path / "kb")
    code, out, err = invoke(runner, "index", str(notes), "--kb", kb)
    assert code == 0
    code, out, err = invoke(runner, "search", "passwd lines root", "--kb", kb)
    assert code == 0
    shown = out + err
    assert not any(ch in shown for ch in "\x1b\x07\u202e"), repr(shown)
    assert "root:x:0:0" in shown and "❌" not in shown
    assert "clear\\x1b[2Jscreen.txt" in shown and "\\x1b]0;pwned\\x07" in shown


def test_a_walk_that_finds_nothing_says_why_it_may_be(runner: CliRunner, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / ".gitignore").write_text("*\n")
    (notes / "a.md").write_text("Lighthouses.\n")
    code, out, err = invoke(runner, "index", str(notes), "--kb", str(tmp_path / "kb"))
    assert code == 0 and "indexed 0 files" in out
    assert "--no-gitignore" in err


# ---- lore ask, answered by the scripted generator (lore.testing.fakes.SCRIPTED) -----------

QUESTION = "When are expired entries removed?"


@pytest.fixture
def asked_kb(runner: CliRunner, corpus: Path, tmp_path: Path) -> str:
    """The corpus and a second note that also speaks of expiry, indexed."""
    (corpus / "tokens.md").write_text("# Tokens\n\nExpired tokens are refreshed before a "
                                      "retry.\n")
    kb = str(tmp_path / "kb")
    assert invoke(runner, "index", str(corpus), "--kb", kb)[0] == 0
    return kb


def test_ask_prints_the_scripted_answer_then_its_checked_sources(
        runner: CliRunner, asked_kb: str, scripted: ScriptedGenerator) -> None:
    written = "Expired entries are removed on read [1]. Tokens expire too [7]."
    scripted.enqueue(written)
    code, out, err = invoke(runner, "ask", QUESTION, "--kb", asked_kb, "--model", "scripted")
    assert code == 0, err
    assert out.startswith(written + "\n")  # streamed as written, checked after
    listed = re.findall(r"^([ *~])\[(\d+)\] (\S+)", out, flags=re.MULTILINE)
    assert [(mark, number) for mark, number, _ in listed][0] == ("*", "1")
    assert "cited sources that do not exist: [7] (removed)" in err
    assert "first token" in err and "scripted" in err
    [messages] = scripted.asked
    assert QUESTION in messages[-1].content
    assert "Expired entries are removed on read." in messages[-1].content


def test_ask_json_prints_the_checked_answer(runner: CliRunner, asked_kb: str,
                                           scripted: ScriptedGenerator) -> None:
    scripted.enqueue("Expired entries are removed on read [1]. Tokens expire too [7].")
    code, out, err = invoke(runner, "ask", QUESTION, "--kb", asked_kb, "--model", "scripted",
                            "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["found"] is True
    assert record["answer"] == "Expired entries are removed on read [1]. Tokens expire too."
    assert record["invalid_citations"] == [7]
    assert [c["number"] for c in record["citations"] if not c["inferred"]] == [1]
    numbers = [s["number"] for s in record["sources"]]
    assert numbers == list(range(1, len(numbers) + 1))
    assert record["timings"]["prompt_tokens"] > 0


@pytest.mark.parametrize("mode", ["rag-sequence", "rag-token"])
def test_ask_marginalises_over_the_scripted_token_scores(
        runner: CliRunner, asked_kb: str, scripted: ScriptedGenerator, mode: str) -> None:
    scripted.script("On read [1].")
    code, out, err = invoke(runner, "ask", QUESTION, "--kb", asked_kb, "--model", "scripted",
                            "--mode", mode, "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["answer"] == "On read [1]." and record["mode"] == mode
    assert len(scripted.asked) == len(record["sources"])  # one prompt per source


def test_ask_question_likelihood_reaches_the_answer_and_refuses_a_server(
        runner: CliRunner, asked_kb: str, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("Refreshed before a retry [1].")
    scripted.likelihood(-30.0, when="removed on read")
    scripted.likelihood(-1.0, when="refreshed before")
    args = ["ask", QUESTION, "--kb", asked_kb, "--question-likelihood", "1"]
    code, out, err = invoke(runner, *args, "--model", "scripted", "--json")
    assert code == 0, err
    assert json.loads(out)["sources"][0]["path"].endswith("tokens.md")
    assert scripted.scored
    code, out, err = invoke(runner, *args, "--model", "openai:http://127.0.0.1:9/v1/m")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "Error: generate.question_likelihood needs per-token probabilities from a local GGUF "
        "model; set it to 0 with a server"]


def test_ask_with_an_unknown_template_is_a_one_line_error(
        runner: CliRunner, asked_kb: str, scripted: ScriptedGenerator) -> None:
    code, out, err = invoke(runner, "ask", QUESTION, "--kb", asked_kb, "--model", "scripted",
                            "--template", "poem")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "Error: unknown prompt template 'poem'; choose from answer, extract, overview, short"]


def test_ask_on_an_empty_knowledge_base_says_so_without_the_model(
        runner: CliRunner, tmp_path: Path, scripted: ScriptedGenerator) -> None:
    lore.open(tmp_path / "empty", model="hash").close()  # made, nothing indexed
    code, out, err = invoke(runner, "ask", QUESTION, "--kb", str(tmp_path / "empty"),
                            "--model", "scripted")
    assert code == 0, err
    assert out.strip() == NOT_FOUND["en"] and scripted.asked == []


def test_ask_with_a_strategy_shows_its_steps_and_records_them_in_json(
        runner: CliRunner, asked_kb: str, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("expired entries removal\ncache expiry timing", "On read [1].")
    code, out, err = invoke(runner, "ask", QUESTION, "--kb", asked_kb, "--model", "scripted",
                            "--strategy", "multi-query", "--show-steps", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["strategy"] == "multi-query" and record["model_calls"] == 2
    assert [s["kind"] for s in record["steps"]] == ["rewrite", "retrieve", "retrieve",
                                                   "retrieve"]
    assert record["steps"][2]["text"] == "expired entries removal"
    assert "rewrite" in err and "cache expiry timing" in err


def test_search_with_a_rewriting_strategy_lists_the_queries_it_searched(
        runner: CliRunner, asked_kb: str, scripted: ScriptedGenerator) -> None:
    scripted.enqueue("Entries past their time to live are dropped when read.")
    code, out, err = invoke(runner, "search", QUESTION, "--kb", asked_kb, "--model",
                            "scripted", "--strategy", "hyde", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["strategy"] == "hyde" and record["hits"]
    assert [s["kind"] for s in record["steps"]] == ["hyde", "retrieve", "retrieve"]


def test_search_refuses_a_strategy_that_does_more_than_retrieve(
        runner: CliRunner, asked_kb: str) -> None:
    code, _, err = invoke(runner, "search", QUESTION, "--kb", asked_kb, "--strategy",
                          "iterative")
    assert code == 2 and "multi-query" in err
