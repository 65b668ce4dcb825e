"""Speech to text over faster-whisper: int8, greedy, loaded and warmed once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from desktop.engine.audio import SILENCE_DBFS, STT_RATE, level_dbfs
from desktop.engine.vad import speech_seconds
from desktop.errors import AudioError, ModelError

log = logging.getLogger(__name__)

MIN_SPEECH_SECONDS = 0.2

# One set of decoding options, shared with bench/turn.py's direct call so the
# comparison is fair: greedy, one temperature, no timestamps.
DECODE_OPTIONS = {
    "beam_size": 1,
    "best_of": 1,
    "temperature": 0.0,
    "condition_on_previous_text": False,
    "without_timestamps": True,
    "vad_filter": False,
}


class Transcriber:
    """A loaded whisper model that turns 16 kHz float32 audio into text."""

    def __init__(self, model_path: str | os.PathLike, threads: int = 2, language: str = "") -> None:
        from faster_whisper import WhisperModel

        self.model_path = Path(model_path)
        if not (self.model_path / "model.bin").is_file():
            raise ModelError(
                f"no speech-to-text model at {self.model_path}",
                "expected a faster-whisper (CTranslate2) folder with model.bin",
            )
        try:
            self.model = WhisperModel(
                str(self.model_path), device="cpu", compute_type="int8", cpu_threads=threads
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError on bad files
            raise ModelError(
                f"the speech-to-text model at {self.model_path} could not be loaded: {exc}"
            ) from exc
        multilingual = self.model.model.is_multilingual
        self.language = language or (None if multilingual else "en")
        self._warm()

    def _warm(self) -> None:
        """Run one tiny inference now, so the user's first turn is not the slow one."""
        noise = np.random.default_rng(0).normal(0, 0.01, STT_RATE).astype(np.float32)
        self.transcribe_raw(noise)

    def transcribe_raw(self, audio: np.ndarray) -> str:
        """Whisper's text for the audio, with no checks (the caller decided it holds speech)."""
        segments, _info = self.model.transcribe(audio, language=self.language, **DECODE_OPTIONS)
        return " ".join(segment.text.strip() for segment in segments).strip()

    def transcribe(self, audio: np.ndarray, source: str = "the recording") -> str:
        """Text of a spoken question; refuses silence and noise rather than inventing words."""
        if level_dbfs(audio) < SILENCE_DBFS:
            raise AudioError(f"{source} is silent", "check the microphone and speak again")
        if speech_seconds(audio) < MIN_SPEECH_SECONDS:
            raise AudioError(f"no speech was heard in {source}", "speak closer to the microphone")
        text = self.transcribe_raw(audio)
        if not any(ch.isalnum() for ch in text):
            raise AudioError(f"no words could be made out in {source}", "speak again, more clearly")
        return text
