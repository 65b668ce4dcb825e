"""Acoustic echo cancellation, so Parley can listen while it talks through the same laptop.

The microphone hears Parley's own voice from the speaker (the echo) on top of the
user. WebRTC's echo canceller (AEC3, through livekit's ``AudioProcessingModule``)
learns the path from what was played to what the microphone picked up, and
removes it, leaving the user's speech.

Audio is 16 kHz mono, fed in 10 ms frames. ``process`` takes the microphone block
and the block that was sent to the speaker at the same moment (``None`` when
nothing plays; keep calling it then, so the stream stays continuous). The played
audio must reach the canceller no later than its echo reaches the microphone:
echo that comes before its reference is not removed at all. The canceller
estimates the speaker-to-microphone delay itself (measured up to 400 ms), so
``delay_ms`` is only a hint. Output lags the input by about 8 ms with echo
cancellation, about 15 ms with noise suppression as well: the filters' own delay.
When livekit cannot be loaded, ``echo_cancellation_available()`` says so and the
caller falls back to half duplex (not listening while speaking).
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from desktop.errors import AudioError

log = logging.getLogger(__name__)

MAX_DELAY_MS = 500  # WebRTC refuses stream delays outside 0..500 ms


@functools.cache
def echo_cancellation_available() -> bool:
    """True when livekit's audio processing loads here; False (and why, in the log) if not."""
    try:
        from livekit import rtc

        rtc.AudioProcessingModule(echo_cancellation=True)
    except Exception as exc:  # ImportError, OSError from the native library, or its own errors
        log.warning("echo cancellation is not available (%s: %s)", type(exc).__name__, exc)
        return False
    return True


class EchoCanceller:
    """WebRTC AEC (via livekit's AudioProcessingModule) at 16 kHz mono, 10 ms frames.

    ``process`` takes int16 or float (in [-1, 1]) arrays whose length is a multiple
    of ``FRAME`` and returns the cleaned microphone audio with the same length,
    shape and dtype. It does not buffer: a length that is not a whole number of
    frames is a ``ValueError``, so open audio streams with a block size of
    ``FRAME`` or a multiple of it. The canceller keeps state between calls, so
    feed it one continuous stream, from a single thread.
    """

    FRAME = 160  # samples per 10 ms at 16 kHz

    def __init__(
        self, sample_rate: int = 16000, noise_suppression: bool = True, delay_ms: int = 0
    ) -> None:
        if sample_rate != 16000:
            raise ValueError(f"EchoCanceller works at 16000 Hz, not {sample_rate}")
        try:
            from livekit import rtc

            self._apm = rtc.AudioProcessingModule(
                echo_cancellation=True,
                noise_suppression=noise_suppression,
                high_pass_filter=True,  # AEC3 switches it on anyway; say so
                auto_gain_control=False,
            )
        except Exception as exc:  # see echo_cancellation_available
            raise AudioError(
                f"echo cancellation is not available ({type(exc).__name__}: {exc})",
                "Parley will stop listening while it speaks",
            ) from exc
        self.sample_rate = sample_rate
        self.noise_suppression = noise_suppression
        # One reusable 10 ms buffer each way; the frames wrap them, numpy views fill them.
        self._mic_bytes = bytearray(self.FRAME * 2)
        self._far_bytes = bytearray(self.FRAME * 2)
        self._mic = np.frombuffer(self._mic_bytes, dtype=np.int16)
        self._far = np.frombuffer(self._far_bytes, dtype=np.int16)
        self._mic_frame = rtc.AudioFrame(self._mic_bytes, sample_rate, 1, self.FRAME)
        self._far_frame = rtc.AudioFrame(self._far_bytes, sample_rate, 1, self.FRAME)
        self.delay_ms = 0
        self.set_delay_ms(delay_ms)

    def set_delay_ms(self, ms: int) -> None:
        """Hint how long played audio takes to come back into the microphone (0 to 500 ms)."""
        self.delay_ms = int(min(max(ms, 0), MAX_DELAY_MS))
        self._apm.set_stream_delay_ms(self.delay_ms)

    def process(self, mic: np.ndarray, played: np.ndarray | None) -> np.ndarray:
        """The microphone audio with the echo of ``played`` removed.

        ``played`` is what went to the speaker during the same span (``None`` when
        nothing played). Each 10 ms of it is fed to the canceller before the
        matching 10 ms of microphone audio.
        """
        mic = np.asarray(mic)
        shape, dtype = mic.shape, mic.dtype
        mic16 = self._to_int16(mic, "mic")
        if played is None:
            far16 = None
        else:
            far16 = self._to_int16(np.asarray(played), "played")
            if far16.size != mic16.size:
                raise ValueError(
                    f"mic and played differ in length ({mic16.size} and {far16.size} samples)"
                )
        if dtype == np.int16:  # work on a copy, never on the caller's array
            mic16 = mic16.copy()
        if far16 is None:
            self._far[:] = 0
        frame, far_buf, mic_buf = self.FRAME, self._far, self._mic
        apm, far_frame, mic_frame = self._apm, self._far_frame, self._mic_frame
        for start in range(0, mic16.size, frame):
            block = slice(start, start + frame)
            if far16 is not None:
                far_buf[:] = far16[block]
            apm.process_reverse_stream(far_frame)
            mic_buf[:] = mic16[block]
            apm.process_stream(mic_frame)  # cleans the buffer in place
            mic16[block] = mic_buf
        if dtype == np.int16:
            return mic16.reshape(shape)
        return (mic16.astype(dtype) / dtype.type(32768.0)).reshape(shape)

    def _to_int16(self, audio: np.ndarray, name: str) -> np.ndarray:
        """Flat int16 samples: int16 passes through, floats in [-1, 1] are scaled and clipped."""
        if audio.ndim == 2 and audio.shape[1] == 1:
            audio = audio[:, 0]
        if audio.ndim != 1:
            raise ValueError(f"{name} must be mono, got shape {audio.shape}")
        if audio.size % self.FRAME:
            raise ValueError(
                f"{name} holds {audio.size} samples, not a multiple of {self.FRAME} (10 ms)"
            )
        if audio.dtype == np.int16:
            return audio
        if not np.issubdtype(audio.dtype, np.floating):
            raise TypeError(f"{name} must be int16 or float audio, not {audio.dtype}")
        scaled = np.rint(audio * 32768.0)
        return np.clip(scaled, -32768, 32767, out=scaled).astype(np.int16)
