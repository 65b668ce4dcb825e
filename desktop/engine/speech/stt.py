"""Speech to text over faster-whisper: int8, greedy, loaded and warmed once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from desktop.engine.audio.samples import (
    MAX_AUDIO_SECONDS,
    SILENCE_DBFS,
    STT_RATE,
    clean_samples,
    level_dbfs,
)
from desktop.engine.audio.vad import speech_seconds
from desktop.errors import AudioError, ModelError

log = logging.getLogger(__name__)

MIN_SPEECH_SECONDS = 0.2

# Whisper's encoder always reads a 30 s window, and on a 2-core CPU that pass is
# most of the STT time (tiny.en: about 320 of 380 ms for a 3 s question). A
# spoken question fits in 10 s, so Parley encodes a 10 s window instead (about
# 80 ms). A short window can make whisper repeat itself, so a reply that looks
# looped, or a longer recording, takes the standard 30 s path.
SHORT_WINDOW_SECONDS = 10.0
_FRAMES_PER_SECOND = 100
_BLOCK_SAMPLES = 2 * 30 * STT_RATE  # long recordings: two whisper windows at a time

# One set of decoding options, shared with bench/turn.py's direct call so the
# comparison is fair: greedy, one temperature, no timestamps. Beam search (5) was
# tried for tiny.en's misheard words: `python bench/stt_decoding.py` gave WER
# 0.052 -> 0.046 on the 10 s window (within the noise: one word is 0.013), and on
# 30 s windows without timestamps it dropped most of a long recording's repeats
# (tests/engine/test_hostile_input.py): greedy stays.
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

    def __init__(
        self,
        model_path: str | os.PathLike,
        threads: int = 2,
        language: str = "",
        short_window: bool = True,
    ) -> None:
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
        # Short windows need a known language; multilingual auto-detect keeps 30 s.
        self.short_window = short_window and self.language is not None
        self._prompt: list[int] | None = None
        self._warm()

    def _warm(self) -> None:
        """Run one tiny inference now, so the user's first turn is not the slow one."""
        noise = np.random.default_rng(0).normal(0, 0.01, STT_RATE).astype(np.float32)
        self.transcribe_raw(noise)

    def transcribe_raw(self, audio: np.ndarray) -> str:
        """Whisper's text for the audio, with no checks (the caller decided it holds speech)."""
        duration = audio.shape[0] / STT_RATE
        if self.short_window and duration < SHORT_WINDOW_SECONDS - 0.5:
            try:
                text = self._decode_short_window(audio)
            except (AttributeError, ImportError, TypeError):  # faster-whisper internals moved
                log.warning("short-window decoding unavailable; using 30 s windows", exc_info=True)
                self.short_window = False
            else:
                if not looks_looped(text, duration):
                    return text
                log.info("short window looped (%r); decoding the full window", text[:80])
        return self.transcribe_full_window(audio)

    def transcribe_full_window(self, audio: np.ndarray) -> str:
        """faster-whisper's own path: 30 s windows.

        faster-whisper works out the features of the whole recording first (600 MB
        at peak for ten minutes), so a long one goes in blocks of whole windows.
        Without timestamps whisper moves on by exactly 30 s anyway, so the windows
        are the ones a single call would use; only its guess at a word cut by a
        window's edge may differ.
        """
        texts = []
        for start in range(0, audio.shape[0], _BLOCK_SAMPLES):
            segments, _info = self.model.transcribe(
                audio[start : start + _BLOCK_SAMPLES], language=self.language, **DECODE_OPTIONS
            )
            texts.extend(segment.text.strip() for segment in segments)
        return " ".join(text for text in texts if text).strip()

    def _decode_short_window(self, audio: np.ndarray) -> str:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_ctranslate2_storage, get_suppressed_tokens

        if self._prompt is None:
            tokenizer = Tokenizer(
                self.model.hf_tokenizer,
                self.model.model.is_multilingual,
                task="transcribe",
                language=self.language or "en",
            )
            self._tokenizer = tokenizer
            self._suppress = get_suppressed_tokens(tokenizer, [-1])
            self._prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        features = self.model.feature_extractor(audio)
        frames = int(SHORT_WINDOW_SECONDS * _FRAMES_PER_SECOND)
        features = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[1]))))
        max_new = int(audio.shape[0] / STT_RATE * 8) + 16  # bounds the cost of a loop
        result = self.model.model.generate(
            get_ctranslate2_storage(features[None, :, :frames].astype(np.float32)),
            [self._prompt],
            beam_size=1,
            max_length=len(self._prompt) + max_new,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )
        text = self._tokenizer.decode(result[0].sequences_ids[0]).strip()
        return text[:1].upper() + text[1:]

    def transcribe(self, audio: np.ndarray, source: str = "the recording") -> str:
        """Text of a spoken question; refuses silence and noise rather than inventing words.

        Arrays from any caller are checked like files: damaged samples are
        mended or refused, and a recording past MAX_AUDIO_SECONDS is refused
        before whisper works out features for all of it.
        """
        if audio.shape[0] > MAX_AUDIO_SECONDS * STT_RATE:
            raise AudioError(
                f"{source} is longer than Parley takes "
                f"({audio.shape[0] / STT_RATE / 60:.0f} minutes; the limit is "
                f"{MAX_AUDIO_SECONDS / 60:g} minutes)",
                f"cut it into parts of at most {MAX_AUDIO_SECONDS / 60:g} minutes",
            )
        if not np.all(np.isfinite(audio)):
            audio = clean_samples(np.array(audio, dtype=np.float32), source)
        if level_dbfs(audio) < SILENCE_DBFS:
            raise AudioError(f"{source} is silent", "check the microphone and speak again")
        if not _has_speech(audio):
            raise AudioError(f"no speech was heard in {source}", "speak closer to the microphone")
        text = self.transcribe_raw(audio)
        if not any(ch.isalnum() for ch in text):
            raise AudioError(f"no words could be made out in {source}", "speak again, more clearly")
        return text


def _has_speech(audio: np.ndarray) -> bool:
    """At least MIN_SPEECH_SECONDS of speech, looked for a block at a time: silero
    over ten minutes at once holds 200 MB, and the first block with speech settles it."""
    found = 0.0
    for start in range(0, audio.shape[0], _BLOCK_SAMPLES):
        found += speech_seconds(audio[start : start + _BLOCK_SAMPLES])
        if found >= MIN_SPEECH_SECONDS:
            return True
    return False


def looks_looped(text: str, seconds: float) -> bool:
    """True when whisper seems stuck: more words than anyone speaks in that time,
    or a run of four or more words said twice in a row."""
    words = text.lower().split()
    if len(words) > 6 * seconds + 4:
        return True
    for size in range(4, len(words) // 2 + 1):
        for start in range(len(words) - 2 * size + 1):
            if words[start : start + size] == words[start + size : start + 2 * size]:
                return True
    return False
