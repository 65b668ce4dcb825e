"""When each microphone sample was captured, so a turn can count from the voice's end.

The stream stamps each block with the moment its first sample was captured
(PortAudio's ADC time, on perf_counter()); the endpointer names samples by
their index in everything it was given. This joins the two.
"""

from __future__ import annotations

import bisect
from collections import deque

from desktop.engine.audio.samples import STT_RATE

KEEP_BLOCKS = 3000  # 30 s of 10 ms blocks: longer than any utterance (15 s)


class MicClock:
    """Sample index -> perf_counter() time it was captured."""

    def __init__(self) -> None:
        self._starts: deque[int] = deque(maxlen=KEEP_BLOCKS)
        self._times: deque[float] = deque(maxlen=KEEP_BLOCKS)

    def mark(self, index: int, captured_at: float) -> None:
        """The block beginning at sample ``index`` was captured at ``captured_at``."""
        self._starts.append(index)
        self._times.append(captured_at)

    def time_of(self, index: int) -> float | None:
        """When sample ``index`` was captured; None before the oldest block kept."""
        at = bisect.bisect_right(self._starts, index) - 1
        if at < 0:
            return None
        return self._times[at] + (index - self._starts[at]) / STT_RATE
