"""Keeping the live stream usable: reopen it after it failed, refresh it when stale.

Both come from what PulseAudio's ALSA plugin does over long sessions: the
device vanishes (unplugged, or the sound server restarted), the microphone's
audio falls further behind with each speaker underrun, or PortAudio's own
thread starts spinning (DuplexStream.input_lag_ms, callback_spinning). A fresh
stream starts with none of that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from desktop.errors import AudioError

log = logging.getLogger(__name__)

REOPEN_EVERY_S = 1.0
STALE_INPUT_MS = 50.0  # microphone audio this much later than it was: reopen when idle
STALE_CHECK_AFTER_S = 10.0  # let a newly opened stream settle first


def went_stale(audio: object, opened_at: float, now: float) -> bool:
    """The stream's microphone audio lags, or its callback thread spins, and it has
    been open long enough to tell (the caller also waits for an idle moment)."""
    return (
        getattr(audio, "input_lag_ms", 0.0) > STALE_INPUT_MS
        or getattr(audio, "callback_spinning", False)
    ) and now - opened_at > STALE_CHECK_AFTER_S


def describe_staleness(audio: object) -> str:
    """For the log line of a refresh."""
    lag = getattr(audio, "input_lag_ms", 0.0)
    load = 100 * getattr(audio, "callback_load", 0.0)
    return f"the microphone lagged {lag:.0f} ms; PortAudio's thread took {load:.0f} % of a core"


def reopen_until_back(
    open_audio: Callable[[], None],
    is_open: Callable[[], bool],
    stopped: threading.Event,
    on_back: Callable[[], None],
) -> None:
    """Hands-free: try the device again every second until it answers, or the loop stops."""
    while not stopped.wait(REOPEN_EVERY_S) and not is_open():
        try:
            open_audio()
        except AudioError as exc:
            log.info("audio device still unavailable: %s", exc)
            continue
        on_back()
