"""A run stopped by Ctrl-C or SIGTERM ends with its message and exit code 1, however the
process was started."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
