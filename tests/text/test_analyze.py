from lore.text.analyze import analyze


def test_english_is_stemmed_and_stopwords_dropped() -> None:
    assert analyze("How is the Cache invalidated?") == ["cach", "invalid"]
    assert analyze("caching") == analyze("cached")


def test_chinese_is_segmented_into_words() -> None:
    terms = analyze("缓存失效策略")
    assert "缓存" in terms and "失效" in terms
    assert "的" not in analyze("缓存的策略")


def test_mixed_text_gets_both_treatments_in_order() -> None:
    assert analyze("用 Python 写缓存 caching") == ["用", "python", "写", "缓存", "cach"]


def test_identifiers_split_on_underscores_and_full_width_forms_fold() -> None:
    assert analyze("max_entries") == ["max", "entri"]
    assert analyze("ＡＢＣ") == ["abc"]

