"""A real server per test: its own data directory, keys and collections, in-process client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lore.testing import postgres
from lore.testing.server import bearer, make_app


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through selenium (the page tests skip without them)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1440,1000", "--lang=en-US",
                     "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app: FastAPI = make_app(tmp_path / "server", LORE_GENERATOR="smollm2")
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as started:
        yield started


@pytest.fixture
def admin(app: FastAPI) -> dict[str, str]:
    return bearer(app.state.server.keys.create("*", "admin"))


@pytest.fixture
def documents() -> list[dict[str, str]]:
    """Three short documents, one in Chinese."""
    return [
        {"id": "cache", "title": "Cache expiry",
         "text": "Expired cache entries are removed by a sweeper that runs every minute. The "
                 "sweeper deletes every entry whose time to live has passed."},
        {"id": "retry", "title": "Retry policy",
         "text": "On a 503 response the client retries with exponential backoff, at most five "
                 "times, and gives up after thirty seconds."},
        {"id": "tea", "title": "茶的冲泡",
         "text": "绿茶用八十度的水冲泡两分钟，红茶用沸水冲泡三到五分钟。"},
    ]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL with pgvector (``lore.testing.postgres``); its test schemas are
    dropped afterwards when it outlives the tests."""
    url = postgres.server_url()
    yield url
    if os.environ.get(postgres.ENV):
        postgres.drop_all(url)
