"""A run stopped by Ctrl-C or SIGTERM ends with its message and exit code 1, however the
process was started."""

import json
import os
import signal
import subprocess
import sys
import weakref
from pathlib import Path

import click
import pytest

import lore
from lore.cli_common import interruptible, whole
from lore.cli_output import StageProgress

STOPPED_INSIDE_EXEC = '''
import os, signal, click
from lore.cli_common import interruptible

@click.command()
def main():
    with interruptible("run it again"):
        # The signal lands inside code made by exec, as when a dataclass is being defined.
        exec("os.kill(os.getpid(), signal.{name})\\nfor _ in range(100000): pass",
             {{"os": os, "signal": signal}})

main()
'''


@pytest.mark.parametrize("stopping", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_inside_exec_still_ends_with_the_message_under_python_m(
        tmp_path: Path, stopping: signal.Signals) -> None:
    (tmp_path / "stopped.py").write_text(STOPPED_INSIDE_EXEC.format(name=stopping.name))
    done = subprocess.run([sys.executable, "-m", "stopped"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (1, "Error: interrupted: run it again")


def test_a_line_being_written_when_the_signal_comes_is_written_whole() -> None:
    written = []
    with pytest.raises(click.ClickException, match="interrupted: again"), \
            interruptible("again"), whole():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100_000):  # the handler has run by now, and waited
            pass
        written.append("the whole line")
    assert written == ["the whole line"]


class _Thing:
    pass


def test_a_stop_raised_inside_a_weakref_callback_ends_the_run_at_its_next_step() -> None:
    steps = []
    with pytest.raises(click.ClickException, match="interrupted: again"), \
            interruptible("again"), StageProgress(bars=False) as progress:
        progress.stage("training", 3)
        thing = _Thing()
        # raise_signal runs the handler at once, inside the callback: Python reports the
        # Interrupted it raises there and carries on, as it does in importlib's lock cleanup.
        ref = weakref.ref(thing, lambda _: signal.raise_signal(signal.SIGTERM))
        del thing
        assert ref() is None
        steps.append("after the callback")
        progress.advance(1)
        steps.append("the next step")
    assert steps == ["after the callback"]


def test_a_terminated_index_run_keeps_what_it_reported_and_the_same_command_finishes(
        tmp_path: Path) -> None:
    corpus = tmp_path / "notes"
    corpus.mkdir()
    for number in range(3000):
        (corpus / f"note{number}.md").write_text(f"# Note {number}\n\nThe tide table {number}.\n")
    command = [sys.executable, "-m", "lore.cli", "index", str(corpus), "--kb",
               str(tmp_path / "kb"), "--model", "hash", "--jsonl"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    reported = [json.loads(child.stdout.readline())]  # indexing has begun
    child.send_signal(signal.SIGTERM)
    rest, err = child.communicate(timeout=120)
    reported += [json.loads(line) for line in rest.splitlines()]
    assert child.returncode == 1 and "interrupted: run the same command again" in err, err
    with lore.open(tmp_path / "kb") as kb:
        assert {e["path"] for e in reported if e["event"] == "indexed"} <= kb.indexed_files()
        assert len(kb.indexed_files()) < 3000
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    with lore.open(tmp_path / "kb") as kb:
        assert kb.status().documents == 3000
