"""Concept extraction without a model (``lore.text.concepts``), measured on a hand-labelled
sample: each text with the concepts a reader would accept as nodes of a concept graph (named
things, and multi-word or hyphenated terms), in lower case, labelled before the extractor
was first run on it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lore.text.concepts import concepts

ENGLISH: tuple[tuple[str, frozenset[str]], ...] = (
    ("The sweeper removes expired cache entries every minute.",
     frozenset({"sweeper", "cache entries", "expired cache entries"})),
    ("Ada Park was born in Oslo and studied chemistry at the University of Oslo.",
     frozenset({"ada park", "oslo", "university of oslo", "university"})),
    ("Marie Curie won the Nobel Prize in Physics in 1903 with Pierre Curie.",
     frozenset({"marie curie", "nobel prize", "physics", "nobel prize in physics",
                "pierre curie"})),
    ("The cross-encoder reranker scores each query-document pair with a small transformer.",
     frozenset({"cross-encoder", "cross-encoder reranker", "query-document pair",
                "small transformer", "transformer"})),
    ("Denver Broncos defeated the Carolina Panthers in Super Bowl 50 at Levi's Stadium.",
     frozenset({"denver broncos", "carolina panthers", "super bowl", "super bowl 50",
                "levi's stadium"})),
    ("PostgreSQL stores vectors with the pgvector extension and builds HNSW indexes.",
     frozenset({"postgresql", "pgvector", "pgvector extension", "hnsw", "hnsw indexes"})),
    ("Photosynthesis converts light energy into chemical energy in plant cells.",
     frozenset({"photosynthesis", "light energy", "chemical energy", "plant cells"})),
    ("The Amazon River flows through Brazil, Peru and Colombia before reaching the Atlantic "
     "Ocean.", frozenset({"amazon river", "brazil", "peru", "colombia", "atlantic ocean"})),
    ("In 1969 Neil Armstrong became the first person to walk on the Moon during the Apollo 11 "
     "mission.", frozenset({"neil armstrong", "moon", "apollo", "apollo 11",
                            "apollo 11 mission", "first person"})),
    ("The function send_invoice emails an invoice to the customer and returns the amount.",
     frozenset({"send_invoice", "invoice", "customer", "amount"})),
    ("Late invoices from two suppliers need a reminder this week.",
     frozenset({"late invoices", "suppliers", "reminder"})),
    ("The Treaty of Versailles ended the state of war between Germany and the Allied Powers.",
     frozenset({"treaty of versailles", "treaty", "versailles", "germany", "allied powers",
                "state of war"})),
)

CHINESE: tuple[tuple[str, frozenset[str]], ...] = (
    ("缓存条目每分钟清理一次，过期的条目会被删除。",
     frozenset({"缓存", "缓存条目", "条目"})),
    ("北京大学位于北京市海淀区，是中国最早的国立综合性大学。",
     frozenset({"北京大学", "北京市", "海淀区", "中国", "国立综合性大学", "综合性大学", "大学"})),
    ("李白是唐代著名诗人，被后人誉为诗仙。",
     frozenset({"李白", "唐代", "诗人", "著名诗人", "诗仙", "后人"})),
    ("检索增强生成把向量检索和大语言模型结合起来。",
     frozenset({"检索增强生成", "向量检索", "大语言模型", "语言模型", "检索", "向量"})),
    ("长江是亚洲最长的河流，流经上海注入东海。",
     frozenset({"长江", "亚洲", "河流", "上海", "东海"})),
    ("腾讯公司总部设在深圳，创始人是马化腾。",
     frozenset({"腾讯", "腾讯公司", "公司", "总部", "深圳", "创始人", "马化腾"})),
)

SAMPLES = ENGLISH + CHINESE


def precision(sample: tuple[tuple[str, frozenset[str]], ...]) -> tuple[float, int]:
    """Share of the extracted concepts the labels accept, and how many were extracted."""
    found = [(concept, accepted) for text, accepted in sample for concept in concepts(text)]
    return sum(concept in accepted for concept, accepted in found) / len(found), len(found)


@pytest.mark.parametrize(("sample", "floor"), [(ENGLISH, 0.85), (CHINESE, 0.8)])
def test_most_extracted_concepts_are_ones_a_reader_accepts(
        sample: tuple[tuple[str, frozenset[str]], ...], floor: float) -> None:
    share, extracted = precision(sample)
    assert extracted >= 2 * len(sample)  # not precise by saying nothing
    assert share >= floor


def test_names_and_compounds_are_kept_and_lone_common_nouns_are_not() -> None:
    found = concepts("Marie Curie studied physics and won the Nobel Prize at the University "
                     "of Oslo. The cross-encoder reranker scores each query-document pair.")
    assert {"marie curie", "nobel prize", "university of oslo", "cross-encoder reranker",
            "query-document pair"} <= set(found)
    assert "physics" not in found  # one common noun, lower case, mid-sentence


def test_a_verb_the_tagger_reads_as_a_noun_is_not_part_of_a_concept() -> None:
    assert concepts("PostgreSQL stores vectors with the pgvector extension.") == [
        "postgresql", "pgvector extension"]


def test_chinese_keeps_proper_nouns_and_noun_compounds() -> None:
    found = concepts("北京大学位于北京市海淀区，腾讯公司总部设在深圳。")
    assert {"北京大学", "北京市", "海淀区", "深圳"} <= set(found)


@pytest.mark.parametrize("text", ["", "   ", "!!! ...", "a b c", "x" * 5000, "1 2 3 4"])
def test_text_without_concepts_gives_none(text: str) -> None:
    assert concepts(text) == []


def test_each_concept_is_given_once_in_order_of_first_mention() -> None:
    found = concepts("Ada Park met Mira Holt. Later Ada Park wrote to Mira Holt.")
    assert found == ["ada park", "mira holt"]


def test_an_english_text_that_gives_a_name_in_chinese_is_read_as_english() -> None:
    found = concepts("Marquess Jing of Han (韓景侯) was a ruler. He died in the state of Han.")
    assert "marquess jing of han" in found and "he" not in found


def test_months_and_weekdays_alone_are_no_concepts() -> None:
    assert concepts("The Beatles played in May and on a Sunday in September.") == ["beatles"]


def test_the_tagger_comes_without_nltk_and_the_package_stays_whole() -> None:
    script = """
import sys
from lore.text.concepts import concepts
print(concepts("Ada Park studied at the University of Oslo."))
print("nltk" in sys.modules)
import textblob
print(hasattr(textblob, "TextBlob"))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.split("\n")[:3] == ["['ada park', 'university of oslo']", "False",
                                             "True"]
