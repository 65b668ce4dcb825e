"""Keep the C heap from holding on to memory Parley has already freed (glibc).

Why: a voice session allocates and frees many short-lived native buffers on
several threads at once (audio, speech-to-text, the model, the voice). glibc
gives each busy thread its own arena and returns little of what is freed in
them, so a long session's resident size climbs by tens of MB before it levels
off, though nothing leaks. Fewer arenas and a trim after each turn keep it
near what is in use (bench/soak.py measures it; README "Long sessions").

Both are no-ops where the C library is not glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
ARENAS = 2  # one for the main thread, one shared by the engine's workers


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas. Call early: threads keep an arena once they have one."""
    if _LIBC is None:
        return False
    done = bool(_LIBC.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(count)))
    log.debug("malloc arenas capped at %d: %s", count, done)
    return done


def give_back_freed() -> bool:
    """Return freed heap pages to the system; True if any were returned."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(ctypes.c_size_t(0)))
