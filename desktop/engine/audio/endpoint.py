"""Endpointing: when does the user start speaking, and when have they finished?

Silero VAD (shipped inside faster-whisper) scores every 32 ms frame. An
utterance starts after a few voiced frames and keeps a pre-roll, so the first
syllable is not lost. It ends after a silence whose length adapts to the words
so far (the voice loop transcribes them as soon as the silence begins and
judges them: desktop/engine/conversation/turn_end.py): short after a finished
sentence, longer when it cannot tell, longest mid-sentence, and never past a
maximum length.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

from desktop.engine.audio.samples import STT_RATE, voice_ends_at

VAD_FRAME = 512  # samples: silero's frame at 16 kHz (32 ms)
FRAME_MS = VAD_FRAME * 1000 / STT_RATE


class SileroVad:
    """Streaming silero VAD: one speech probability per 512-sample frame."""

    def __init__(self) -> None:
        import onnxruntime
        from faster_whisper.utils import get_assets_path

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            os.path.join(get_assets_path(), "silero_vad_v6.onnx"),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(64, np.float32)

    def probability(self, frame: np.ndarray) -> float:
        window = np.concatenate((self._context, frame))[None, :]
        out, self._h, self._c = self._session.run(
            None, {"input": window, "h": self._h, "c": self._c}
        )
        self._context = frame[-64:]
        return float(out.ravel()[0])


class Ending(Enum):
    """What the words so far say about the turn (desktop/engine/conversation/turn_end.py)."""

    UNKNOWN = "unknown"  # no words judged, or they could go either way: the usual wait
    PENDING = "pending"  # being judged: wait for the verdict (at most the longest wait)
    COMPLETE = "complete"  # a finished sentence: end the turn after a short pause
    INCOMPLETE = "incomplete"  # mid-sentence: wait longer before taking the turn


@dataclass(frozen=True)
class EndpointSettings:
    threshold: float = 0.5
    # While Parley speaks, what is left of its echo after cancellation must not
    # count as the user: a higher bar, but fewer frames, so barge-in stays quick.
    # (Measured on echo-cancelled replies: residual echo stays below 0.5; a user
    # talking over the reply scores 0.65-0.75 for its first 300 ms.)
    barge_in_threshold: float = 0.6
    start_frames: int = 3  # voiced frames in a row that start an utterance (~96 ms)
    barge_in_frames: int = 3
    pre_roll_ms: float = 320.0
    short_silence_ms: float = 320.0  # after a complete sentence
    # Could be either: long enough for a one-second pause to think (a 1.0 s pause on
    # the live benchmark was 0.95-1.0 s of silent frames), short of the longest wait.
    long_silence_ms: float = 1100.0
    # Mid-sentence: a user who pauses up to a second to think must not be answered
    # half a question (bench/voice_latency.py --paused); margin for 1.2 s pauses.
    incomplete_silence_ms: float = 1400.0
    max_utterance_s: float = 15.0
    min_speech_ms: float = 200.0  # less voiced audio than this is noise, not a turn


@dataclass(frozen=True)
class SpeechStarted:
    """The user began speaking."""


@dataclass(frozen=True)
class SilenceStarted:
    """The user paused; ``audio`` is the utterance so far, worth transcribing now."""

    audio: np.ndarray


@dataclass(frozen=True)
class SpeechResumed:
    """The user spoke again after a pause: what was transcribed at the pause is not all
    (the voice loop drops a reply it began on it)."""


@dataclass(frozen=True)
class UtteranceEnded:
    """The user finished; ``audio`` is the whole utterance with its pre-roll.
    ``voice_end``: where their voice stopped, as a count of the samples pushed
    (Endpointer.samples_pushed), so the voice loop can tell when that was."""

    audio: np.ndarray
    voiced_ms: float
    voice_end: int = 0


@dataclass(frozen=True)
class UtteranceDropped:
    """What was heard was too short to be speech (a cough, a click)."""


EndpointEvent = SpeechStarted | SilenceStarted | SpeechResumed | UtteranceEnded | UtteranceDropped


class Endpointer:
    """Feed 16 kHz float32 audio of any length; get endpoint events back."""

    def __init__(self, settings: EndpointSettings | None = None, vad: SileroVad | None = None):
        self.settings = settings or EndpointSettings()
        self.vad = vad or SileroVad()
        self.ending = Ending.UNKNOWN  # set by the voice loop from its early transcript
        self.strict = False  # set while Parley speaks
        self._pending = np.zeros(0, np.float32)
        self._pending_keep = np.zeros(0, np.float32)
        pre_roll = int(self.settings.pre_roll_ms / FRAME_MS)
        self._history: deque[np.ndarray] = deque(maxlen=pre_roll + self.settings.start_frames)
        self._utterance: list[np.ndarray] = []
        self._in_speech = False
        self._voiced_run = 0
        self._silent_run = 0
        self._voiced_total = 0
        self.last_probability = 0.0
        self.samples_pushed = 0  # every sample ever pushed: the utterances' timeline
        self._stepped = 0  # ... of which the VAD has scored (or reset() dropped) this many

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def reset(self) -> None:
        self._stepped += self._pending.size
        self._pending = np.zeros(0, np.float32)
        self._pending_keep = np.zeros(0, np.float32)
        self._history.clear()
        self._utterance = []
        self._in_speech = False
        self._voiced_run = self._silent_run = self._voiced_total = 0
        self.ending = Ending.UNKNOWN
        self.vad.reset()

    def push(self, audio: np.ndarray, keep: np.ndarray | None = None) -> list[EndpointEvent]:
        """Score ``audio``; the utterance is built from ``keep`` (same length) when given.

        The voice loop scores echo-cancelled audio but keeps the untouched
        microphone signal: the canceller dulls a voice that talks over Parley,
        and whisper hears the original better.
        """
        keep = audio if keep is None else keep
        self.samples_pushed += audio.size
        self._pending = np.concatenate((self._pending, audio))
        self._pending_keep = np.concatenate((self._pending_keep, keep))
        events: list[EndpointEvent] = []
        while self._pending.size >= VAD_FRAME:
            frame, self._pending = self._pending[:VAD_FRAME], self._pending[VAD_FRAME:]
            kept, self._pending_keep = (
                self._pending_keep[:VAD_FRAME],
                self._pending_keep[VAD_FRAME:],
            )
            self._stepped += VAD_FRAME
            events.extend(self._step(frame, kept))
        return events

    def _step(self, scored: np.ndarray, frame: np.ndarray) -> list[EndpointEvent]:
        s = self.settings
        probability = self.last_probability = self.vad.probability(scored)
        voiced = probability >= (s.barge_in_threshold if self.strict else s.threshold)
        if not self._in_speech:
            self._history.append(frame)
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= (s.barge_in_frames if self.strict else s.start_frames):
                self._in_speech = True
                self._utterance = list(self._history)
                self._voiced_total = self._voiced_run
                self._silent_run = 0
                self.ending = Ending.UNKNOWN
                return [SpeechStarted()]
            return []

        self._utterance.append(frame)
        if voiced:
            self._voiced_total += 1
            events: list[EndpointEvent] = [SpeechResumed()] if self._silent_run else []
            self._silent_run = 0
            self.ending = Ending.UNKNOWN
        else:
            self._silent_run += 1
            events = [SilenceStarted(self.utterance_so_far())] if self._silent_run == 1 else []
        silence_ms = self._silent_run * FRAME_MS
        window = self.silence_window_ms()
        too_long = len(self._utterance) * FRAME_MS >= s.max_utterance_s * 1000
        if silence_ms >= window or too_long:
            events.append(self._finish())
        return events

    def silence_window_ms(self) -> float:
        """How long a pause ends the utterance, given what its words say."""
        s = self.settings
        if self.ending is Ending.COMPLETE:
            return s.short_silence_ms
        if self.ending in (Ending.INCOMPLETE, Ending.PENDING):
            return s.incomplete_silence_ms
        return s.long_silence_ms

    def utterance_so_far(self) -> np.ndarray:
        return np.concatenate(self._utterance) if self._utterance else np.zeros(0, np.float32)

    def _finish(self) -> EndpointEvent:
        keep_silence = 5  # frames (160 ms) of the trailing pause are enough for whisper
        trimmed = max(0, self._silent_run - keep_silence)
        if trimmed:
            del self._utterance[len(self._utterance) - trimmed :]
        audio, voiced_ms = self.utterance_so_far(), self._voiced_total * FRAME_MS
        began = self._stepped - (len(self._utterance) + trimmed) * VAD_FRAME  # contiguous frames
        self._in_speech = False
        self._utterance = []
        self._history.clear()
        self._voiced_run = self._silent_run = 0
        if voiced_ms < self.settings.min_speech_ms:
            return UtteranceDropped()
        return UtteranceEnded(audio, voiced_ms, began + voice_ends_at(audio))

    def force_end(self) -> EndpointEvent | None:
        """End the utterance now (push-to-talk released); None when nothing was heard."""
        if not self._in_speech:
            return None
        return self._finish()
