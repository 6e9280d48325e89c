"""Promises about the package itself: its exported names and its documented settings."""

from pathlib import Path

import pytest

import lore
from lore.config import LoreConfig, setting_names
from lore.errors import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_exported_members_are_locked() -> None:
    exported = {name for name in dir(lore) if not name.startswith("_")}
    exported -= {"api", "cli", "config", "errors", "types", "embed", "ingest", "retrieve",
                 "store", "pipeline", "eval", "testing", "cli_output", "models", "rerank",
                 "generate", "records", "cli_serve", "cli_mcp", "serve", "doctor", "text",
                 "directory", "train", "learning", "cli_common", "cli_train", "kb_learning",
                 "fitting", "synthesis", "status", "query", "kb_query", "routing", "graph",
                 "kb_graph", "cli_graph", "knowledge", "rag_training", "rag_joint", "ray_ingest"}
    assert exported == set(lore.__all__)


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    assert [name for name in setting_names() if f"`{name}`" not in text] == []


def test_environment_is_read_through_a_mapping() -> None:
    config = LoreConfig.from_env({"LORE_HOME": "/data/kb", "LORE_MODEL": "e5-small",
                                  "LORE_BATCH_SIZE": "8", "LORE_FUSION": "rrf"})
    assert str(config.kb_dir) == "/data/kb"
    assert (config.embed.model, config.embed.batch_size) == ("e5-small", 8)
    assert config.retrieve.fusion == "rrf"
    answers = LoreConfig.from_env({"LORE_QUESTION_LIKELIHOOD": "0.1",
                                   "LORE_SOURCE_MASS": "0.5", "LORE_LLAMA_THREADS": "1"}).generate
    assert (answers.question_likelihood, answers.source_mass, answers.threads) == (0.1, 0.5, 1)
    assert LoreConfig.from_env({}).generate.threads is None
    assert LoreConfig.from_env({"LORE_EF_SEARCH": "300"}).index.pgvector_ef_search == 300


def test_bad_environment_values_name_the_key() -> None:
    with pytest.raises(ConfigError, match="LORE_BATCH_SIZE"):
        LoreConfig.from_env({"LORE_BATCH_SIZE": "-1"})
    with pytest.raises(ConfigError, match="LORE_FUSION.*choose from adaptive, weighted, rrf"):
        LoreConfig.from_env({"LORE_FUSION": "magic"})
    with pytest.raises(ConfigError, match="LORE_QUESTION_LIKELIHOOD='some'"):
        LoreConfig.from_env({"LORE_QUESTION_LIKELIHOOD": "some"})
