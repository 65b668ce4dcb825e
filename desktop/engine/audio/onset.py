"""A quick, unconfirmed sign that someone started talking over Parley.

Why: the VAD needs about 170 ms of a voice over Parley's echo before it is
sure (3 frames of 32 ms at a raised threshold, and silero scores a voice's
first syllable low), and live that made barge-in take ~300 ms. A voice
starting is also a sudden rise in the echo-cancelled level, seen within
tens of ms. SpeakerPause pauses the speaker on that rise, and the voice
loop's VAD decides: a voice means barge-in, anything else means playing on.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

import numpy as np

from desktop.engine.audio.samples import level_dbfs
from desktop.engine.audio.streams import FRAME_16K

log = logging.getLogger(__name__)

CONFIRM_S = 0.6  # the speaker paused on a sudden sound: this long for the VAD to say "voice"
COOLDOWN_S = 2.0  # after a sound that was not a voice, do not pause again this soon

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


class Holdable(Protocol):
    def hold(self, on: bool) -> None: ...


class SpeakerPause:
    """Pause Parley's speaker the moment the echo-cancelled level jumps while it talks.

    The voice loop's VAD then decides: a voice is a barge-in (the loop clears the
    reply and calls ``end``), anything else lets the reply play on from where it
    paused after CONFIRM_S. The speaker is held between two sentences too (live
    replies have gaps): the next one waits.
    """

    def __init__(self) -> None:
        self._onset = VoiceOnset()
        self._held_at: float | None = None
        self._allowed_at = 0.0
        self.holds: list[float] = []  # perf_counter times the speaker was paused
        self.false_holds = 0  # pauses the VAD did not confirm as a voice

    def end(self) -> None:
        """The speaker was cleared (barge-in, Stop): that ends a pause too."""
        self._held_at = None

    def feed(self, mic: np.ndarray, speaking: bool, speaker: Holdable, now: float) -> None:
        """One echo-cancelled microphone block (16 kHz) while the loop runs."""
        if self._held_at is not None:
            if now - self._held_at >= CONFIRM_S:
                speaker.hold(False)
                self._held_at = None
                self.false_holds += 1
                self._allowed_at = now + COOLDOWN_S
                log.info("paused for a sound that was not a voice (%d so far)", self.false_holds)
            return
        if not speaking:
            self._onset.reset()
            return
        # Live blocks come 30-40 ms at a time: the detector counts 10 ms frames.
        frames = mic.reshape(-1, FRAME_16K) if mic.size % FRAME_16K == 0 else [mic]
        rising = any([self._onset.push(level_dbfs(frame)) for frame in frames])  # feed all
        if rising and now >= self._allowed_at:
            speaker.hold(True)
            self._held_at = now
            self.holds.append(now)
