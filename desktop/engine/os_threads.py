"""What the operating system sees of Parley's threads: their names and their CPU.

Why names: Python 3.11 names threads for itself only; to ``top -H``, ``/proc``
and bench/soak.py every Parley thread was "python", so a turn that burned twice
the CPU could not say which worker did it. Native libraries' threads started
from a named thread (PortAudio's, for one) inherit its name.

Why CPU: that is how a spinning audio thread was found (ThreadLoad).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_NAME = 15
_LINUX_NAME_BYTES = 15


@functools.cache
def _prctl():  # noqa: ANN202 - libc's prctl, or None
    """Looked up once: each speech thread names itself as a turn starts (no
    find_library here: it runs ldconfig in a subprocess)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # the process's own libc
    except (OSError, AttributeError):
        log.debug("prctl not found: threads keep their OS names", exc_info=True)
        return None


def name_this_thread(name: str | None = None) -> None:
    """Set the OS name of the calling thread (Linux; elsewhere nothing happens)."""
    prctl = _prctl() if sys.platform.startswith("linux") else None
    if prctl is not None:
        name = name or threading.current_thread().name
        prctl(_PR_SET_NAME, name.encode()[:_LINUX_NAME_BYTES], 0, 0, 0)


class ThreadLoad:
    """How busy one OS thread has been (its share of a core) since the last look.

    Linux only (``/proc``): elsewhere, and for a thread that has gone, the load is 0.
    """

    def __init__(self, native_id: int) -> None:
        self.native_id = native_id
        self._stat = Path(f"/proc/self/task/{native_id}/stat")
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = (time.monotonic(), self._cpu_seconds())

    def _cpu_seconds(self) -> float:
        try:
            fields = self._stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self._ticks

    def share(self) -> float:
        """CPU seconds per second since the previous call (1.0: a whole core)."""
        now, cpu = time.monotonic(), self._cpu_seconds()
        (then, before), self._last = self._last, (now, cpu)
        return max(0.0, cpu - before) / (now - then) if now > then else 0.0
