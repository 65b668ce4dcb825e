"""A quick, unconfirmed sign that someone started talking over Parley.

Why: the VAD needs about 170 ms of a voice over Parley's echo before it is
sure (3 frames of 32 ms at a raised threshold, and silero scores a voice's
first syllable low), and live that made barge-in take ~300 ms. A voice
starting is also a sudden rise in the echo-cancelled level, seen within
tens of ms. The loop pauses the speaker on that rise and lets the VAD decide:
a voice means barge-in, anything else means playing on (VoiceLoop).
"""

from __future__ import annotations

from collections import deque

RISE_DB = 12.0  # above the loudest residual of the last second
MIN_LEVEL_DBFS = -45.0  # quieter than this is never a voice close to the microphone
BLOCKS = 2  # blocks in a row (10 ms each): a click is not a voice
HISTORY_BLOCKS = 100  # the last second of echo-cancelled levels
ARMED_AFTER_BLOCKS = 50  # judge a rise only against 500 ms of Parley's residual echo
# (the first reply's echo reaches a fresh canceller late: 300 ms paused on its own start)
RAMP_BLOCKS = 8  # a voice ramps up over tens of ms: the newest 80 ms are not the floor


class VoiceOnset:
    """Feed the echo-cancelled level of each 10 ms block while Parley speaks."""

    def __init__(self) -> None:
        self._levels: deque[float] = deque(maxlen=HISTORY_BLOCKS)
        self._run = 0

    def reset(self) -> None:
        """Parley fell silent: what its echo left behind no longer applies."""
        self._levels.clear()
        self._run = 0

    def push(self, level_dbfs: float) -> bool:
        """True once the level has jumped well above the recent residual echo."""
        levels = self._levels
        levels.append(level_dbfs)
        if len(levels) < ARMED_AFTER_BLOCKS:
            return False
        floor = max(levels[i] for i in range(len(levels) - RAMP_BLOCKS))
        rising = level_dbfs >= max(MIN_LEVEL_DBFS, floor + RISE_DB)
        self._run = self._run + 1 if rising else 0
        return self._run >= BLOCKS
