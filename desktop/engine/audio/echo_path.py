"""The live loop's echo canceller, started afresh once it has lost the echo path.

Parley's own words coming back through the canceller mean it no longer follows
the path from speaker to microphone. Left alone it stayed lost: in a 300-turn
soak it let echo through on nearly every reply from about turn 70, each echo a
false barge-in and a late endpoint. A new canceller learns the path again from
the next reply (bench/soak.py counts echoes_heard and echo_renewals).
"""

from __future__ import annotations

import logging

import numpy as np

from desktop.engine.audio.samples import STT_RATE

log = logging.getLogger(__name__)


def make_echo_canceller():  # noqa: ANN201 - EchoCanceller or None, imported late
    """A 16 kHz canceller, or None (and a warning) where WebRTC's cannot load."""
    from desktop.engine.audio.echo import EchoCanceller, echo_cancellation_available

    if not echo_cancellation_available():
        log.warning("echo cancellation unavailable: half duplex")
        return None
    return EchoCanceller(STT_RATE, noise_suppression=False)


class EchoPath:
    """One canceller at a time for the audio thread, renewed when asked to."""

    def __init__(self, canceller) -> None:  # noqa: ANN001 - EchoCanceller or a stand-in
        self.canceller = canceller
        self.renewals = 0
        self._renew = False

    @classmethod
    def open(cls) -> EchoPath | None:
        """An echo path, or None where echo cancellation is unavailable (half duplex)."""
        canceller = make_echo_canceller()
        return None if canceller is None else cls(canceller)

    def set_delay_ms(self, ms: int) -> None:
        self.canceller.set_delay_ms(ms)

    def renew_soon(self) -> None:
        """Any thread: the audio thread, which owns the canceller, renews it at its next block."""
        self._renew = True

    def process(self, mic: np.ndarray, played: np.ndarray) -> np.ndarray:
        if self._renew:
            self._renew_now()
        return self.canceller.process(mic, played)

    def _renew_now(self) -> None:
        self._renew = False
        fresh = make_echo_canceller()
        if fresh is None:
            return
        fresh.set_delay_ms(self.canceller.delay_ms)
        self.canceller = fresh
        self.renewals += 1
        log.info("renewed the echo canceller (%d so far)", self.renewals)
