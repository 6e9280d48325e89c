"""Run a child process that file permissions bind, even when the tests run as root.

Root reads a file with mode 000 and lists a folder with mode 000 (the capabilities
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so an unreadable file cannot be made for root by
``chmod`` alone. ``as_ordinary_user`` drops both from the child's capability bounding set
before it starts: the child then meets permissions as any user does.

>>> subprocess.run(["cat", str(locked_file)], preexec_fn=as_ordinary_user)  # Permission denied
"""

from __future__ import annotations

import ctypes
import os

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def as_ordinary_user() -> None:
    """``preexec_fn`` for ``subprocess``: as root, give up overriding file permissions."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"prctl(PR_CAPBSET_DROP): {os.strerror(error)}")
