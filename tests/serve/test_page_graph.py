"""The web page's graph view in headless Chromium: after an answer, the concepts around its
sources are drawn, coloured by community, and a click on one lists the chunks that mention
it. The scripted generator answers (the view does not depend on the model's words).

A screenshot goes to ``$LORE_TEST_ARTIFACTS`` (else the test's tmp_path) and to
``test-artifacts/graph.png`` under the repository root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lore.testing.fakes import ScriptedGenerator
from lore.testing.server import add_documents, bearer, make_app, serving

from .browser import needs_chromium, save_screenshot, text_of, wait

pytest.importorskip("selenium")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402

pytestmark = [pytest.mark.slow, needs_chromium]

NOTES = [
    "The Aletsch Glacier and the Rhone Glacier feed the Swiss Alps valleys.",
    "Climbers in the Swiss Alps cross the Aletsch Glacier each summer.",
    "The Rhone Glacier retreats while the Aletsch Glacier thins near Zermatt.",
    "Zermatt lies below the Matterhorn in the Swiss Alps.",
    "Ada Park wrote the cache sweeper at the University of Oslo.",
    "The cache sweeper frees memory that Ada Park's tests leak.",
    "At the University of Oslo, Ada Park teaches the cache sweeper.",
]


def test_the_graph_view_draws_the_concepts_around_the_sources(
        tmp_path: Path, browser: Any, scripted: ScriptedGenerator) -> None:
    app = make_app(tmp_path / "server", LORE_GENERATOR="scripted", LORE_MODEL="hash")
    scripted.script("The Aletsch Glacier feeds the Swiss Alps valleys [1].")
    with TestClient(app) as client, serving(app) as url:
        token = app.state.server.keys.create("*", "admin")
        client.post("/collections", json={"name": "notes"}, headers=bearer(token))
        add_documents(client, "notes", [{"id": f"n{n}", "title": f"Note {n}", "text": text}
                                        for n, text in enumerate(NOTES)], bearer(token))
        browser.get(url + "/")
        browser.find_element(By.ID, "api-key").send_keys(token)
        browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
        wait(browser, 10, lambda d: text_of(d, "key-state") == "Connected", "no connection")
        picker = Select(browser.find_element(By.ID, "collection"))
        wait(browser, 10, lambda d: any(o.get_attribute("value") == "notes"
                                        for o in picker.options), "no collection listed")
        picker.select_by_value("notes")

        browser.find_element(By.ID, "question").send_keys("What does the Aletsch Glacier feed?")
        browser.find_element(By.ID, "ask").click()
        answer = browser.find_element(By.ID, "answer")
        wait(browser, 30, lambda d: answer.get_attribute("data-state") == "done",
             "the answer did not finish")
        block = browser.find_element(By.ID, "graph-block")
        wait(browser, 10, lambda d: block.is_displayed(), "the graph view did not appear")

        concepts = browser.find_elements(By.CSS_SELECTOR, "#graph g.concept")
        names = [c.get_attribute("data-name") for c in concepts]
        assert "aletsch glacier" in names, names
        assert browser.find_elements(By.CSS_SELECTOR, "#graph g.concept.named")
        assert browser.find_elements(By.CSS_SELECTOR, "#graph line.link")
        assert browser.find_elements(By.CSS_SELECTOR, "#graph-legend li")
        # Nodes are placed inside the drawing, apart from each other.
        places = {c.get_attribute("transform") for c in concepts}
        assert len(places) == len(concepts)

        glacier = concepts[names.index("aletsch glacier")]
        # Opened from the keyboard (a neighbour's label may lie over the node's centre).
        browser.execute_script("arguments[0].focus()", glacier)
        glacier.send_keys(Keys.ENTER)
        chunks = browser.find_element(By.ID, "concept-chunks")
        wait(browser, 10, lambda d: chunks.find_elements(By.TAG_NAME, "li"),
             "the concept's chunks did not open")
        listed = [li.text for li in chunks.find_elements(By.TAG_NAME, "li")]
        assert len(listed) == 3 and all("Aletsch Glacier" in text for text in listed)
        assert "aletsch glacier" in text_of(browser, "concept-heading")
        assert "active" in (glacier.get_attribute("class") or "")

        entries: list[dict[str, Any]] = browser.get_log("browser")
        assert not [e for e in entries if e["level"] == "SEVERE"], entries
        for path in save_screenshot(browser, tmp_path, "graph.png", in_repo=True):
            assert path.stat().st_size > 10_000
