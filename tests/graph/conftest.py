"""Two topics that share no concept, in five short notes each: what the graph tests index."""

from __future__ import annotations

from pathlib import Path

import pytest

MOUNTAINS = ["The Aletsch Glacier and the Rhone Glacier feed the Swiss Alps valleys.",
             "Climbers in the Swiss Alps cross the Aletsch Glacier each summer.",
             "The Rhone Glacier retreats while the Aletsch Glacier thins.",
             "Zermatt lies below the Matterhorn in the Swiss Alps.",
             "The Matterhorn and Zermatt draw climbers from Geneva."]
LIBRARY = ["Ada Park wrote the cache sweeper at the University of Oslo.",
           "The cache sweeper frees memory that Ada Park's tests leak.",
           "At the University of Oslo, Ada Park teaches Rust Programming.",
           "Rust Programming courses use the cache sweeper as an example.",
           "Ada Park and Ben Lund maintain the cache sweeper."]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for topic, lines in (("alps", MOUNTAINS), ("oslo", LIBRARY)):
        for number, line in enumerate(lines):
            (folder / f"{topic}-{number}.md").write_text(f"# {topic} {number}\n\n{line}\n")
    return folder
