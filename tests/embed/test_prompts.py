"""A model directory's recorded prompts and character map, written and read back, and read by
the embedder that runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lore.embed.prompts import PROMPTS_FILE, TextForm, read_text_form, record_text_form
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError


def test_a_recorded_form_reads_back_and_keeps_the_rest_of_the_config(tmp_path: Path) -> None:
    (tmp_path / PROMPTS_FILE).write_text(json.dumps({"__version__": {"x": "1"},
                                                     "prompts": {"title": "title: "}}))
    form = TextForm("query: ", "passage: ", {ord("Ａ"): "A"})
    record_text_form(tmp_path, form)
    assert read_text_form(tmp_path) == form
    config = json.loads((tmp_path / PROMPTS_FILE).read_text())
    assert config["__version__"] == {"x": "1"} and config["prompts"]["title"] == "title: "
    assert form.normalize is not None and form.normalize("ＡB") == "AB"


def test_a_directory_without_either_file_reads_as_plain_text(tmp_path: Path) -> None:
    assert read_text_form(tmp_path) == TextForm()
    assert TextForm().normalize is None


def test_the_passage_prompt_may_be_called_passage(tmp_path: Path) -> None:
    (tmp_path / PROMPTS_FILE).write_text(json.dumps({"prompts": {"passage": "p: "}}))
    assert read_text_form(tmp_path) == TextForm("", "p: ")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"prompts": {"query": 3}}'])
def test_a_broken_config_names_its_file(tmp_path: Path, text: str) -> None:
    (tmp_path / PROMPTS_FILE).write_text(text)
    with pytest.raises(ConfigError, match=PROMPTS_FILE):
        read_text_form(tmp_path)


def test_the_embedder_reads_text_as_its_directory_says(tmp_path: Path,
                                                       minilm: TransformerEmbedder) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(minilm.model_dir, model_dir)
    record_text_form(model_dir, TextForm("query: ", "passage: ", {ord("É"): "E"}))
    prompted = TransformerEmbedder(model_dir)
    assert (prompted.query_prefix, prompted.passage_prefix) == ("query: ", "passage: ")
    assert prompted.query_input("Éclair") == "query: Eclair"
    assert prompted.passage_input("Tart") == "passage: Tart"
    np.testing.assert_allclose(prompted.embed_query("Éclair"),
                               minilm.embed_query("query: Eclair"), atol=1e-5)
    np.testing.assert_allclose(prompted.embed_documents(["Tart"])[0],
                               minilm.embed_documents(["passage: Tart"])[0], atol=1e-5)
    explicit = TransformerEmbedder(model_dir, query_prefix="", passage_prefix="")
    assert explicit.query_input("tart") == "tart"
