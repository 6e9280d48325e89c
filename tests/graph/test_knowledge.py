"""The knowledge graph's values, no model: a model's lines checked against the chunk they
came from, and the graph merged from many chunks."""

from __future__ import annotations

from lore.graph.knowledge import (
    Entity,
    Extraction,
    Relation,
    build_knowledge_graph,
    normalised,
    parse_extraction,
)

TEXT = "Ada Park wrote the cache sweeper in 2019 at Norlight Systems in Oslo."


def test_lines_in_the_format_become_entities_and_relations() -> None:
    found = parse_extraction("entity: Ada Park | person\n"
                             "entity: Norlight Systems | organisation\n"
                             "relation: Ada Park | worked at | Norlight Systems\n", TEXT)
    assert found.entities == (Entity("Ada Park", "person"),
                              Entity("Norlight Systems", "organisation"))
    assert found.relations == (Relation("Ada Park", "worked at", "Norlight Systems"),)
    assert found.dropped == 0


def test_names_the_text_does_not_contain_are_dropped_with_their_relations() -> None:
    found = parse_extraction("entity: Ada Park | person\nentity: Ben Lund | person\n"
                             "relation: Ben Lund | manages | Ada Park\n", TEXT)
    assert [entity.name for entity in found.entities] == ["Ada Park"]
    assert found.relations == ()
    assert found.dropped == 2


def test_a_relation_adds_its_ends_and_an_unknown_type_is_other() -> None:
    found = parse_extraction("- entity: cache sweeper | software\n"
                             "relation: Ada Park | wrote | the cache sweeper\n", TEXT)
    kinds = {entity.name: entity.kind for entity in found.entities}
    assert kinds == {"cache sweeper": "other", "Ada Park": "other"}
    assert found.relations == (Relation("Ada Park", "wrote", "the cache sweeper"),)


def test_prose_clauses_and_self_relations_and_stray_lines_are_not_kept() -> None:
    clause = "Ada Park wrote the cache sweeper in 2019 at Norlight Systems"
    found = parse_extraction(f"entity: {clause} | event\n"
                             "relation: Oslo | is | Oslo\n"
                             "Here are the entities:\n"
                             "relation: Ada Park | wrote it in the year that came | Oslo\n",
                             TEXT)
    assert found.entities == () and found.relations == ()
    assert found.dropped == 4


def test_chinese_lines_and_full_width_marks_are_read() -> None:
    text = "2019年，艾达·帕克在奥斯陆的北光系统公司工作。"
    found = parse_extraction("entity：艾达·帕克｜person\n"
                             "关系: 艾达·帕克 | 工作于 | 北光系统公司", text)
    assert Entity("艾达·帕克", "person") in found.entities
    assert found.relations == (Relation("艾达·帕克", "工作于", "北光系统公司"),)


def test_names_merge_by_case_spacing_articles_and_quotes() -> None:
    assert normalised("The  Cache Sweeper") == normalised("cache sweeper") \
        == normalised('"Cache sweeper".')
    assert normalised("Ａｄａ") == "ada"  # full-width letters, NFKC


def test_the_graph_merges_entities_across_chunks_and_keeps_topics_apart() -> None:
    alps = [Extraction((Entity("Aletsch Glacier", "place"), Entity("Swiss Alps", "place")),
                       (Relation("Aletsch Glacier", "lies in", "Swiss Alps"),), 0),
            Extraction((Entity("the Swiss Alps", "place"), Entity("Zermatt", "place"),
                        Entity("Matterhorn", "place")),
                       (Relation("Zermatt", "lies in", "the Swiss Alps"),
                        Relation("Matterhorn", "rises above", "Zermatt")), 0)]
    oslo = [Extraction((Entity("Ada Park", "person"), Entity("cache sweeper", "product")),
                       (Relation("Ada Park", "wrote", "cache sweeper"),), 1),
            Extraction((Entity("ada park", "other"), Entity("Ben Lund", "person"),
                        Entity("Cache Sweeper", "product")),
                       (Relation("Ben Lund", "maintains", "Cache Sweeper"),
                        Relation("ada park", "works with", "Ben Lund")), 0)]
    knowledge = build_knowledge_graph(dict(enumerate(alps + oslo, start=10)))
    names = knowledge.names
    assert sorted(names) == ["Ada Park", "Aletsch Glacier", "Ben Lund", "Matterhorn",
                             "Swiss Alps", "Zermatt", "cache sweeper"]
    assert knowledge.kinds[names.index("Ada Park")] == "person"  # "other" does not vote
    facts = knowledge.facts()
    assert facts["entities"] == 7 and facts["relations"] == 6 and facts["lines_dropped"] == 1
    graph = knowledge.graph
    tops = {names[int(entity)]: graph.top_of(node)
            for node, entity in enumerate(graph.concepts.tolist())}
    alpine = {tops[name] for name in ("Aletsch Glacier", "Swiss Alps", "Zermatt", "Matterhorn")}
    assert not alpine & {tops[name] for name in ("Ada Park", "Ben Lund", "cache sweeper")}
    park, sweeper = names.index("Ada Park"), names.index("cache sweeper")
    assert knowledge.relations[min(park, sweeper), max(park, sweeper)] == (
        "Ada Park wrote cache sweeper",)
    assert graph.chunk_keys.tolist() == [10, 11, 12, 13]
    assert (graph.communities.chunk_leaf >= 0).all()


def test_no_extractions_make_an_empty_graph() -> None:
    knowledge = build_knowledge_graph({})
    assert knowledge.facts()["nodes"] == 0 and knowledge.facts()["communities"] == 0
    lonely = build_knowledge_graph({1: Extraction((Entity("Oslo", "place"),), (), 0)})
    assert lonely.names == ["Oslo"] and lonely.facts()["nodes"] == 0
