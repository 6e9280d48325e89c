"""The web page end to end: a real server on a real port, driven in headless Chromium.

Enter the key, pick the collection, upload two files and watch them index, ask a question and
watch the answer stream in, then open a source in the side panel. SmolLM2-135M answers; it may
or may not cite, so the test opens a citation when there is one and a listed source otherwise,
and asserts only on what does not depend on the model's wording.

A screenshot goes to ``$LORE_TEST_ARTIFACTS`` (else the test's tmp_path) and to
``test-artifacts/page.png`` under the repository root.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lore.config import LoreConfig
from lore.serve.state import Server
from lore.testing.models import needs_smollm2

pytest.importorskip("selenium")
uvicorn = pytest.importorskip("uvicorn")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402

from .browser import needs_chromium, save_screenshot, text_of, wait  # noqa: E402

pytestmark = [pytest.mark.slow, needs_smollm2, needs_chromium]

GLASSWORT = """# Glasswort lanterns

Glasswort lanterns are the paper lanterns of the island of Vellmora. Each glasswort lantern is
folded from seven sheets of kelp paper and lit with tallow from the marsh goats.

## The lantern festival

Every autumn the glasswort lanterns are floated down the Tesk river during the lantern
festival, and the last lantern to reach the sea names the harbour master for the year.
"""

MARSH_GOATS = """# Marsh goats of Vellmora

The marsh goats of Vellmora graze on salt grass along the Tesk river. Their tallow burns with
a green flame, which is why the glasswort lanterns glow green at the lantern festival.
Herders mark their goats <img src=x onerror="document.title='pwned'"> with marsh goat bells.
"""

MARKERS = ("glasswort", "marsh goat", "tesk")
"""Words every passage of the two files holds at least one of."""


@dataclass
class LiveServer:
    url: str
    token: str
    state: Server

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The real app under uvicorn on a free loopback port, in a background thread."""
    from lore.serve.app import create_app

    # No waiting line: while one answer runs, the next question is refused with 503 at once.
    app = create_app(LoreConfig.from_env({"LORE_SERVE_DIR": str(tmp_path / "server"),
                                          "LORE_GENERATOR": "smollm2", "LORE_ASK_QUEUE": "0"}))
    token = app.state.server.keys.create("*", "admin")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", token, app.state.server)
    finally:
        server.should_exit = True
        thread.join(30)


def test_upload_ask_and_open_a_source(live_server: LiveServer, browser: webdriver.Chrome,
                                      tmp_path: Path) -> None:
    live_server.call("POST", "/collections", {"name": "vellmora"})
    files = [tmp_path / "glasswort.md", tmp_path / "marsh-goats.md"]
    files[0].write_text(GLASSWORT, encoding="utf-8")
    files[1].write_text(MARSH_GOATS, encoding="utf-8")

    browser.get(live_server.url + "/")
    assert browser.title == "lore"
    # A page that has never been given a key says so, and asks for nothing yet.
    assert not browser.find_element(By.ID, "collection").is_enabled()

    # A wrong key is refused, readably.
    key = browser.find_element(By.ID, "api-key")
    connect = browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]")
    key.send_keys("lore_0000_not-a-key")
    connect.click()
    wait(browser, 10, lambda d: text_of(d, "key-state") == "Key refused", "a bad key was taken")
    assert text_of(browser, "collection-error").startswith("The API key was not accepted")
    assert "(unauthorized)" in text_of(browser, "collection-error")

    key.clear()
    key.send_keys(live_server.token)
    connect.click()
    wait(browser, 10, lambda d: text_of(d, "key-state") == "Connected", "the key was not accepted")
    picker = Select(browser.find_element(By.ID, "collection"))
    wait(browser, 10, lambda d: any(o.get_attribute("value") == "vellmora"
                                    for o in picker.options), "the collection is not listed")
    picker.select_by_value("vellmora")
    assert "0 documents" in picker.first_selected_option.text
    assert browser.execute_script("return localStorage.getItem('lore.apiKey')") == live_server.token

    # Upload both files through the file input; the job's progress shows until it is done.
    browser.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    browser.find_element(By.ID, "upload").click()
    job = browser.find_element(By.ID, "job")
    wait(browser, 60, lambda d: job.get_attribute("data-state") in ("done", "failed"),
         "the upload job did not finish")
    assert job.get_attribute("data-state") == "done", text_of(browser, "job-status")
    assert text_of(browser, "job-status") == "Done: 2 files indexed."
    assert browser.find_element(By.ID, "files-progress").get_attribute("value") == "2"
    views = browser.find_element(By.ID, "views-progress")
    assert views.get_attribute("value") == views.get_attribute("max") != "0"
    wait(browser, 10, lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                                    "#documents li[data-state=indexed]")) == 2,
         "the documents are not listed as indexed")
    names = {li.find_element(By.CLASS_NAME, "doc-name").text
             for li in browser.find_elements(By.CSS_SELECTOR, "#documents li")}
    assert names == {"glasswort.md", "marsh-goats.md"}
    wait(browser, 10, lambda d: "2 documents" in Select(
        d.find_element(By.ID, "collection")).first_selected_option.text,
        "the collection's document count did not refresh")

    # While another answer holds the model, a question is refused at once: 503, Retry-After.
    question = browser.find_element(By.ID, "question")
    question.send_keys("Why do the glasswort lanterns glow green at the lantern festival?")
    answer = browser.find_element(By.ID, "answer")
    ticket = live_server.state.gate.enter()
    try:
        browser.find_element(By.ID, "ask").click()
        wait(browser, 10, lambda d: answer.get_attribute("data-state") == "error",
             "the busy answer was not shown")
    finally:
        ticket.cancel()
    busy = browser.find_element(By.ID, "answer-error")
    assert "busy" in (busy.get_attribute("class") or "")
    assert busy.text.startswith("The server is busy — try again in 10 seconds"), busy.text
    save_screenshot(browser, tmp_path, "page-busy.png", in_repo=False)

    # Ask; the answer streams in (the page shows it while the model writes), then its sources.
    browser.find_element(By.ID, "ask").click()
    wait(browser, 60, lambda d: answer.get_attribute("data-state") in ("streaming", "done")
         and answer.text.strip(), "no answer text arrived")
    wait(browser, 60, lambda d: answer.get_attribute("data-state") in ("done", "error"),
         "the answer did not finish")
    assert answer.get_attribute("data-state") == "done", text_of(browser, "answer-error")
    assert answer.text.strip()
    assert int(answer.get_attribute("data-tokens") or 0) > 1  # it came in pieces, as streamed
    assert not browser.find_element(By.ID, "answer-error").is_displayed()
    sources = browser.find_elements(By.CSS_SELECTOR, "#sources .source-item")
    assert sources, "the answer lists no sources"
    assert "smollm2" in text_of(browser, "answer-meta").lower()

    # Open a source: through a citation when the model cited one, else from the sources list.
    citations = browser.find_elements(By.CSS_SELECTOR, "#answer button.cite")
    target = citations[0] if citations else sources[0]
    number = (target.get_attribute("data-numbers") or target.get_attribute("data-number") or "")
    number = number.split(",")[0]
    target.click()
    panel = browser.find_element(By.ID, "source-panel")
    wait(browser, 5, lambda d: panel.get_attribute("data-number") == number,
         "the source panel did not open")
    assert browser.find_element(By.ID, "source-body").is_displayed()
    assert text_of(browser, "source-number") == number
    passage = text_of(browser, "source-text")
    assert passage and any(marker in passage.lower() for marker in MARKERS), passage
    label = text_of(browser, "source-label")
    assert "glasswort.md" in label or "marsh-goats.md" in label, label
    active = browser.find_element(By.CSS_SELECTOR, f'.source-item[data-number="{number}"]')
    assert "active" in (active.get_attribute("class") or "")
    if citations:
        assert "active" in (target.get_attribute("class") or "")

    # A second source from the list replaces the first in the panel.
    if len(sources) > 1:
        other = next(s for s in sources if s.get_attribute("data-number") != number)
        other.click()
        other_number = other.get_attribute("data-number")
        wait(browser, 5, lambda d: panel.get_attribute("data-number") == other_number,
             "the panel did not switch sources")
        assert "active" in (other.get_attribute("class") or "")
        assert "active" not in (active.get_attribute("class") or "")
        active.click()  # back to the first, for the screenshot
        wait(browser, 5, lambda d: panel.get_attribute("data-number") == number,
             "the panel did not switch back")

    # A strategy chosen on the page streams its steps above the answer.
    Select(browser.find_element(By.ID, "strategy")).select_by_value("step-back")
    browser.find_element(By.ID, "ask").click()
    wait(browser, 90, lambda d: answer.get_attribute("data-state") in ("done", "error")
         and d.find_elements(By.CSS_SELECTOR, "#steps li"), "the planned answer did not finish")
    steps = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#steps li")]
    assert steps[0].startswith("step-back") and any(s.startswith("retrieve") for s in steps)
    assert "step-back" in text_of(browser, "answer-meta")

    # Server text is shown as text: markup in a document stays text, and never runs.
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, #source-text *, .snippet *")
    assert browser.title == "lore"

    # No script errors (the refused requests above are logged as network errors, as they should).
    entries: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    logs = [entry for entry in entries
            if entry["level"] == "SEVERE" and entry.get("source") != "network"]
    assert not logs, logs
    for path in save_screenshot(browser, tmp_path, "page.png", in_repo=True):
        assert path.stat().st_size > 10_000
