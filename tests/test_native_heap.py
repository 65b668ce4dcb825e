"""native_heap on this machine's glibc: freed memory really goes back to the system."""

import subprocess
import sys

import pytest

from desktop import native_heap

pytestmark = pytest.mark.skipif(native_heap._LIBC is None, reason="glibc only (a no-op elsewhere)")

# Runs in a fresh interpreter so the figures are this script's alone. Blocks of 1000
# bytes come from malloc (not Python's small-object pools); the last one stays
# allocated, so plain free() cannot shrink the heap from the top.
FREE_THEN_TRIM = """
import sys
from desktop import native_heap

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

blocks = [bytearray(1000) for _ in range(150_000)]
pin = bytearray(1000)
del blocks
freed = rss_mb()
returned = native_heap.give_back_freed()
print(returned, freed, rss_mb())
"""


def test_trimming_gives_freed_heap_memory_back() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FREE_THEN_TRIM], capture_output=True, text=True, check=True
    ).stdout.split()
    returned, before, after = out[0] == "True", float(out[1]), float(out[2])
    assert returned
    assert before - after > 100, f"RSS {before:.0f} -> {after:.0f} MB after trimming"


def test_arenas_can_be_capped() -> None:
    assert native_heap.limit_arenas(native_heap.ARENAS)
