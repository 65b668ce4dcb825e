"""A room made of files: live audio for the voice loop without a sound card.

It plays the role of DuplexStream with the same block timing (10 ms, paced in
real time): the "microphone" is a recording, the "speaker" is collected into
an array, and an optional echo path feeds what was played back into the
microphone with a delay and gain, as a laptop's own speaker would. Tests and
the self-test use it where no sound server exists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from desktop.engine.audio.samples import STT_RATE
from desktop.engine.audio.streams import FRAME_16K, Playback, QueuedSpeaker, heard_times
from desktop.errors import AudioError


class FileAudio(QueuedSpeaker):
    """Feeds ``microphone`` (16 kHz float32) block by block and records what is played."""

    def __init__(
        self,
        on_block: Callable[[np.ndarray, np.ndarray], None],
        on_failure: Callable[[AudioError], None],
        microphone: np.ndarray,
        *,
        echo_gain_db: float | None = None,
        echo_delay_ms: float = 40.0,
        tail_s: float = 6.0,
    ) -> None:
        self._on_block = on_block
        self._on_failure = on_failure
        self.microphone = microphone.astype(np.float32)
        self.echo_gain = None if echo_gain_db is None else 10 ** (echo_gain_db / 20)
        self.echo_delay = int(echo_delay_ms * STT_RATE / 1000)
        self.total = self.microphone.size + int(tail_s * STT_RATE)
        self.playback = Playback(STT_RATE)
        self.played = np.zeros(self.total + FRAME_16K, np.float32)
        self.position = 0  # samples delivered so far: the room's clock
        self.playing = False
        self.latency_ms = echo_delay_ms
        self.finished = threading.Event()
        # The room's clock: sample n of the microphone and of the speaker is heard at
        # started + n / 16 kHz, whenever the loop gets to it (no device latency here).
        self.started_at = 0.0
        self.block_captured_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parley-file-audio", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def fail(self) -> None:
        """Behave like an unplugged device."""
        self._stop.set()
        self._on_failure(AudioError("the audio device stopped (unplugged?)"))

    def _run(self) -> None:
        started = self.started_at = time.perf_counter()
        while not self._stop.is_set() and self.position < self.total:
            at = self.position
            played = np.zeros(FRAME_16K, np.float32)
            self.playing = self.playback.read_into(played) > 0 or self.playback.holding
            self.played[at : at + FRAME_16K] = played
            heard = heard_times(self.playback, started + at / STT_RATE)
            mic = np.zeros(FRAME_16K, np.float32)
            source = self.microphone[at : at + FRAME_16K]
            mic[: source.size] = source
            if self.echo_gain is not None and at >= self.echo_delay:
                mic += (
                    self.echo_gain
                    * self.played[at - self.echo_delay : at - self.echo_delay + FRAME_16K]
                )
            self.position += FRAME_16K
            for callback, sounded_at in heard:
                callback(sounded_at)
            self.block_captured_at = started + at / STT_RATE
            self._on_block(mic, played)
            # pace like a real device: block n is due at n * 10 ms
            delay = started + self.position / STT_RATE - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        self.finished.set()

    def speaker_recording(self) -> np.ndarray:
        return self.played[: self.position].copy()
