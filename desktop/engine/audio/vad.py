"""Voice activity detection on silero VAD, which ships inside faster-whisper.

Used to refuse recordings that hold no speech: whisper answers silence and
noise with invented words ("Thank you."), which must never reach the LLM.
"""

from __future__ import annotations

import numpy as np

from desktop.engine.audio.samples import STT_RATE


def speech_spans(audio: np.ndarray, threshold: float = 0.5) -> list[tuple[int, int]]:
    """Sample ranges that hold speech in 16 kHz float32 audio."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(threshold=threshold, min_speech_duration_ms=150)
    return [
        (span["start"], span["end"])
        for span in get_speech_timestamps(audio, options, sampling_rate=STT_RATE)
    ]


def speech_seconds(audio: np.ndarray) -> float:
    return sum(end - start for start, end in speech_spans(audio)) / STT_RATE
