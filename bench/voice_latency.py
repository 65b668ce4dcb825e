"""Live voice benchmark: Parley listening and answering through real audio streams.

A private PulseAudio server (tests/audio_server.py) gives Parley a virtual
microphone and speaker; Parley opens them through PortAudio (sounddevice)
exactly as on a desktop. Each spoken question is played into the microphone
in real time, Parley hears it, answers aloud, and the room is recorded.

    python bench/voice_latency.py [--corpus DIR] [--rounds N] [--barge-ins N] [--json]
        [--max-reply-s S] [--threads N] [--keep-recording PATH]
        [--room plain|tuned] [--voices many|one] [--paused N] [--leak-db DB]
        [--punctuation-ends-turns]

DIR holds *.wav questions with a *.txt reference beside each; without it,
espeak-ng speaks the built-in questions: each in two of 8 voices and speeds
(American, British, Scottish, Caribbean, RP, West Midlands; 140-190 words a
minute; --voices one: all in the voice tiny.en hears best, as before).
--room plain (the default) is a sound server as a desktop's is: PulseAudio's
own defaults and a recorder that asks for no latency; --room tuned is the
tests' room, whose 10 ms reader on the null sink keeps everything in small
steps. --paused N (default 10) plays N more questions spoken in two parts
with 0.4-1.2 s of silence between them (a user pausing to think), after the
others. Needs pulseaudio, pulseaudio-utils and libasound2-plugins (as the
tests do); espeak-ng for the built-in questions and the barge-in rounds.

Set-up. One VoiceLoop (hands-free, echo cancellation on, earcons off so only
replies reach the speaker) runs for the whole benchmark, with the speaker
leaking into the microphone at -10 dB, 40 ms late (a laptop without a
headset). One stereo recording of the room (left = microphone, right =
speaker, one shared clock) covers the whole run; every figure except the
stage breakdown is measured on it, not with Python clocks. The conversation
is reset before each question, so every turn sees the same short context.

Per question: play it, wait until it has been answered and the loop has been
quiet for 0.7 s, pause 0.3 s. A reply still going 5 s (--max-reply-s) after
the question was heard is ended with the Stop button (stop_speaking: no
barge-in, no turn); that keeps the default run near 2.5 minutes on 2 cores.
Barge-in rounds: ask "Tell me a long story about a dragon.", wait until
Parley is speaking (+0.8 s), then play a corpus question over the story.

Finding things on the recording:
- A question on the microphone channel: the played WAV (resampled to 48 kHz)
  is cross-correlated with the microphone channel around where the wall clock
  says it was played (-0.5 s .. +1.5 s). The peak gives its exact start even
  with Parley's echo mixed in; its voiced onset and offset come from the clean
  WAV itself: the first and last sample whose 10 ms RMS is within 30 dB of
  the clip's loudest 10 ms (and above -50 dBFS). A normalised correlation
  under 0.8 means the question did not reach the microphone as played (a
  starved player stutters); such a question is left out of the figures.
- Parley's voice on the speaker channel (nothing else is played there):
  samples whose centred 10 ms RMS is at least -40 dBFS.
- A question's own transcript: of the final transcripts between it and the
  next question, the one closest to its reference.

Figures:
- voice_to_voice_ms: first voiced speaker sample after a question's last
  voiced sample, minus that last voiced sample (plain questions that were
  heard, and during which the speaker was silent).
- own: Parley's own Heard figures for the same turns (from the question's last
  voiced sample to its reply's first sample leaving the speaker, both on
  PortAudio's stream clock), and their parts: endpoint wait, reply, audio path.
  own_minus_outside_abs_ms: how far its figure is from the recording's, per turn.
- endpoint_ms: voice_to_voice minus Parley's own first_audio_ms (which runs
  from its endpoint): the endpoint's silence wait plus audio output latency.
- stt_ms, llm_first_token_ms, first_audio_ms: Parley's TurnResult timings,
  all from its endpoint.
- barge_in_stop_ms: last voiced speaker sample between the interrupting
  question's onset and its end, minus that onset. If Parley still talks at
  the end of the question, the stop is where a 300 ms silence first begins.
  Per round, barge_in_seen_ms_approx says when the loop itself reacted (its
  perf_counter time mapped onto the recording: a few 10 ms off), and
  pause_seen_ms_approx when it paused the speaker on the sudden sound.
- replies_ahead / replies_ahead_dropped: turns begun on the early transcript
  and held until the endpoint, kept / dropped because the user went on.
- self_triggered_turns: turns Parley started minus questions it heard;
  self_heard lists those transcripts. self_barge_ins: barge-ins no question
  accounts for, with how long Parley had been talking when it stopped itself.
- cut_offs_by_pause_ms: per pause length, [cut off, played]: a paused question
  is cut off when Parley's voice came before its end (it answered the first
  part) or it was heard as more than one turn. wer_paused: their transcripts.
- wer: Parley's final transcripts of the plain questions against the
  references; wer_raw: faster-whisper called directly on the same WAVs, same
  model and decoding options; wer_per_voice: Parley's, by voice and speed.
- stream_ended_and_reopened, stream_went_quiet_and_reopened: how often the
  audio stream died (ended by itself; or stayed open but stopped calling back
  for 1.5 s) and was opened again at once; stream_refreshed_while_idle: how
  often the loop renewed a stale stream between turns.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import (  # noqa: E402
    load_corpus,
    pause_of,
    paused_corpus,
    reference_text,
    speak,
    voice_of,
)
from bench.turn import percentile  # noqa: E402
from desktop.config import Settings  # noqa: E402
from desktop.engine.audio.samples import STT_RATE, load_audio  # noqa: E402
from desktop.engine.events import Failure, Heard, State, Transcript, TurnResult  # noqa: E402
from desktop.engine.loading import load_assistant  # noqa: E402
from desktop.engine.speech.stt import DECODE_OPTIONS  # noqa: E402
from desktop.engine.speech.wer import word_error_rate, word_errors  # noqa: E402
from desktop.library import registry  # noqa: E402
from tests.audio_server import (  # noqa: E402
    MIC_CHANNEL,
    RATE,
    SPEAKER_CHANNEL,
    VirtualAudio,
    read_wav,
    refresh_portaudio,
)

STAGES = ("stt_ms", "llm_first_token_ms", "first_audio_ms")
STORY = "Tell me a long story about a dragon."
TARGETS = {
    "voice_to_voice_p50_ms": 700,
    "voice_to_voice_p95_ms": 1100,
    "barge_in_stop_p95_ms": 150,
    "self_triggered_turns": 0,
    "own_minus_outside_p95_ms": 50,
}

ECHO_GAIN_DB = -10.0
ECHO_LATENCY_MS = 40
QUIET_S = 0.7  # the loop has answered and stayed quiet this long: the turn is over
ANSWER_TIMEOUT_S = 20.0
UNHEARD_AFTER_S = 5.0  # no transcript this long after a question ended: it was missed
GAP_S = 0.3  # between questions
MAX_REPLY_S = 5.0  # after the question was heard: then the bench presses Stop
SPEAKING_BEFORE_BARGE_IN_S = 0.8

WINDOW = RATE // 100  # 10 ms RMS windows
SPEAKER_VOICED_DBFS = -40.0
QUESTION_VOICED_BELOW_PEAK_DB = 30.0
QUESTION_VOICED_FLOOR_DBFS = -50.0
SEARCH_BEFORE_S, SEARCH_AFTER_S = 0.5, 1.5
# Below this the microphone channel does not hold the question as played (the
# player was starved of CPU and stuttered): its figures are left out.
MATCH_MIN = 0.8
STOPPED_SILENCE_S = 0.3


# ---------------------------------------------------------------------------
# Signal helpers


def rms_db(x: np.ndarray) -> np.ndarray:
    """Centred 10 ms RMS of every sample, in dBFS."""
    power = np.concatenate(([0.0], np.cumsum(x.astype(np.float64) ** 2)))
    index = np.arange(x.size)
    low = np.clip(index - WINDOW // 2, 0, x.size)
    high = np.clip(index + WINDOW // 2, 0, x.size)
    mean = (power[high] - power[low]) / np.maximum(high - low, 1)
    return 10 * np.log10(np.maximum(mean, 1e-12))


def voiced(x: np.ndarray, threshold_dbfs: float) -> np.ndarray:
    return rms_db(x) >= threshold_dbfs if x.size else np.zeros(0, bool)


@dataclass
class Clip:
    """A question as played: 48 kHz samples and where its voice begins and ends."""

    path: Path
    samples: np.ndarray
    onset: int
    offset: int

    @classmethod
    def load(cls, path: Path) -> Clip:
        import soxr

        samples = soxr.resample(load_audio(path), STT_RATE, RATE).astype(np.float32)
        level = rms_db(samples)
        loud = np.flatnonzero(
            level >= max(level.max() - QUESTION_VOICED_BELOW_PEAK_DB, QUESTION_VOICED_FLOOR_DBFS)
        )
        return cls(path, samples, int(loud[0]), int(loud[-1]) + 1)


def locate(channel: np.ndarray, clip: Clip, expected: int) -> tuple[int, float]:
    """Where clip starts in channel near `expected`, by cross-correlation; and how well
    it matched (normalised correlation, 1.0 = identical)."""
    low = max(0, expected - int(SEARCH_BEFORE_S * RATE))
    high = min(channel.size, expected + clip.samples.size + int(SEARCH_AFTER_S * RATE))
    window = channel[low:high].astype(np.float64)
    template = clip.samples.astype(np.float64)
    if window.size < template.size:
        raise RuntimeError(f"{clip.path.name}: the recording ends before the question")
    size = 1 << int(np.ceil(np.log2(window.size + template.size)))
    spectrum = np.fft.rfft(window, size) * np.conj(np.fft.rfft(template, size))
    lags = window.size - template.size + 1
    correlation = np.fft.irfft(spectrum, size)[:lags]
    energy = np.concatenate(([0.0], np.cumsum(window**2)))
    segment = energy[template.size : template.size + lags] - energy[:lags]
    score = correlation / np.sqrt(np.maximum(segment, 1e-12) * np.sum(template**2))
    best = int(np.argmax(correlation))
    return low + best, float(score[best])


# ---------------------------------------------------------------------------
# The live session


class Events:
    """Everything the loop reports (levels, tokens and audio left out), thread-safe."""

    def __init__(self) -> None:
        self._events: list[object] = []
        self._lock = threading.Lock()

    def __call__(self, event: object) -> None:
        if isinstance(event, State | Transcript | TurnResult | Failure | Heard):
            with self._lock:
                self._events.append(event)

    def mark(self) -> int:
        with self._lock:
            return len(self._events)

    def since(self, mark: int, kind: type) -> list:
        with self._lock:
            return [e for e in self._events[mark:] if isinstance(e, kind)]

    def between(self, mark: int, until: int, kind: type) -> list:
        with self._lock:
            return [e for e in self._events[mark:until] if isinstance(e, kind)]

    def finals(self, mark: int, until: int | None = None) -> list[str]:
        with self._lock:
            events = self._events[mark:until]
        return [e.text for e in events if isinstance(e, Transcript) and e.final]


@dataclass
class Played:
    """One question played into the microphone."""

    clip: Clip
    expected: int  # sample position in the recording, from the wall clock
    mark: int  # events before it was played
    kind: str  # "question", "paused", "story" or "interruption"
    transcript: str | None = None
    result: TurnResult | None = None
    extra: dict = field(default_factory=dict)


def closest(item: Played, finals: list[str]) -> str | None:
    """The transcript most like what was played (the first of equals), or None."""
    reference = reference_text(item.clip.path)
    return min(finals, key=lambda text: word_errors(reference, text)[0], default=None)


class Bench:
    """Drives the live session and keeps what the analysis needs."""

    def __init__(self, audio: VirtualAudio, loop, events: Events, recorder_started: float):
        self.audio, self.loop, self.events = audio, loop, events
        self.t0 = recorder_started  # perf_counter() of the recording's first samples
        self.played: list[Played] = []
        self.turns = 0
        self.latency_ms = 0.0
        self.stream_revivals = self.stream_stalls = self.stream_refreshes = 0
        self.self_heard: list[str] = []  # final transcripts no question accounts for
        self.barge_in_samples: list[int] = []  # loop.barge_ins, as recording positions
        self.pause_samples: list[int] = []  # loop.holds (speaker paused), likewise
        self.device_failures: list[str] = []  # the audio stream died: nothing more to measure
        self.failures: list[str] = []
        self.self_barge_ins_ms: list[float | None] = []
        self.speaker_pauses = 0  # the loop paused the speaker on a sudden sound (onset.py)
        self.false_pauses = 0  # ... and the VAD heard no voice: the reply played on
        self.replies_ahead = 0  # replies begun at a pause and kept at the endpoint
        self.replies_ahead_dropped = 0  # ... and dropped: the user went on speaking
        self.max_reply_s = MAX_REPLY_S

    def position(self, perf_counter: float) -> int:
        """Where a perf_counter() time falls in the recording (within a few 10 ms)."""
        return int((perf_counter - self.t0) * RATE)

    def play(self, clip: Clip, kind: str) -> Played:
        mark = self.events.mark()
        expected = self.position(time.perf_counter())
        self.audio.play_into_mic(clip.path, block=True)
        item = Played(clip, expected, mark, kind)
        self.played.append(item)
        return item

    def wait_for_answer(self, item: Played) -> None:
        """Until the loop has answered item and been quiet for QUIET_S. A reply still
        going max_reply_s after the question was heard is ended with the Stop button
        (stop_speaking: not a barge-in, no turn), which keeps the run short."""
        ended = time.perf_counter()
        heard_at = quiet_since = None
        while time.perf_counter() - ended < ANSWER_TIMEOUT_S and not self.device_failures:
            now = time.perf_counter()
            own = closest(item, self.events.finals(item.mark))
            heard_at = heard_at or (now if own is not None else None)
            answered = own is not None and any(
                r.transcript == own for r in self.events.since(item.mark, TurnResult)
            )
            failed = bool(self.events.since(item.mark, Failure))
            idle = not self.loop.speaking
            if idle and own is None and now - ended > UNHEARD_AFTER_S:
                return
            if heard_at and now - heard_at > self.max_reply_s and not idle:
                if not item.extra.get("stopped_by_bench"):
                    self.loop.stop_speaking()
                item.extra["stopped_by_bench"] = True
            quiet_since = (quiet_since or now) if idle and (answered or failed) else None
            if quiet_since and now - quiet_since >= QUIET_S:
                return
            time.sleep(0.02)
        if self.device_failures:
            return
        print(
            f"bench: {item.clip.path.name}: no quiet answer in {ANSWER_TIMEOUT_S:.0f} s",
            file=sys.stderr,
        )
        self.loop.stop_speaking()
        time.sleep(QUIET_S)

    def wait_until_speaking(self, mark: int, timeout: float = 20.0) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and not self.device_failures:
            if any(s.name == "speaking" for s in self.events.since(mark, State)):
                return True
            time.sleep(0.02)
        return False

    def question(self, clip: Clip, kind: str = "question") -> None:
        if not self.loop.speaking:
            self.loop.assistant.reset()
        item = self.play(clip, kind)
        self.wait_for_answer(item)
        time.sleep(GAP_S)

    def barge_in(self, story: Clip, clip: Clip) -> None:
        if not self.loop.speaking:
            self.loop.assistant.reset()
        barge_ins = len(self.loop.barge_ins)
        first = self.play(story, "story")
        speaking = self.wait_until_speaking(first.mark)
        if speaking:
            time.sleep(SPEAKING_BEFORE_BARGE_IN_S)
        speaking = speaking and self.loop.speaking
        item = self.play(clip, "interruption")
        item.extra["parley_was_speaking"] = speaking
        self.wait_for_answer(item)
        item.extra["detected"] = len(self.loop.barge_ins) > barge_ins
        time.sleep(GAP_S)

    def attribute(self) -> None:
        """Each question's own transcript and answer: of the final transcripts after it
        was played and before the next one was, the closest to its reference; any other
        final transcript is Parley hearing itself."""
        self.failures = [f.message for f in self.events.since(0, Failure)]
        self.self_heard = self.events.finals(0, self.played[0].mark if self.played else None)
        for index, item in enumerate(self.played):
            following = self.played[index + 1 :]
            finals = self.events.finals(item.mark, following[0].mark if following else None)
            item.extra["turns_heard"] = len(finals)
            item.transcript = closest(item, finals)
            if item.transcript is not None:
                finals.remove(item.transcript)
            self.self_heard += finals
            if item.transcript is not None:
                for result in self.events.since(item.mark, TurnResult):
                    if result.transcript == item.transcript:
                        item.result = result
                        break
            # Parley's own figure: the first Heard after it, before the next was played.
            until = following[0].mark if following else None
            heard = (
                self.events.since(item.mark, Heard)
                if until is None
                else self.events.between(item.mark, until, Heard)
            )
            if heard and item.transcript is not None:
                item.extra["own"] = heard[0].to_dict()


def run_live(
    settings: Settings,
    questions: list[Clip],
    rounds: int,
    barge_ins: int,
    story: Clip | None,
    recording: Path,
    max_reply_s: float = MAX_REPLY_S,
    room: str = "plain",
    paused: list[Clip] | None = None,
    leak_db: float = ECHO_GAIN_DB,
) -> Bench:
    """Play everything into a live VoiceLoop while recording the room."""
    from desktop.engine.audio.streams import DuplexStream, find_devices
    from desktop.engine.conversation.voice_loop import VoiceLoop

    audio = VirtualAudio(tuned=room == "tuned").start()
    try:
        os.environ.update(audio.env)
        refresh_portaudio()
        devices = find_devices()
        assistant = load_assistant(settings, live_audio=True)
        events = Events()
        streams: list[DuplexStream] = []

        def factory(on_block, on_failure):
            def failed(error):
                bench.device_failures.append(error.message)
                on_failure(error)

            streams.append(DuplexStream(devices, on_block, failed))
            return streams[-1]

        loop = VoiceLoop(
            assistant, factory, events, hands_free=True, echo_cancellation=True, earcons=False
        )
        with audio.echo_loopback(gain_db=leak_db, latency_ms=ECHO_LATENCY_MS):
            recorder = audio.record_mic_and_speaker(recording)
            bench = Bench(audio, loop, events, time.perf_counter())
            bench.max_reply_s = max_reply_s
            loop.start()
            bench.latency_ms = streams[0].latency_ms
            time.sleep(1.0)  # the stream settles; the endpointer sees some room tone
            try:
                for clip in questions * rounds:
                    if bench.device_failures:
                        break
                    bench.question(clip)
                for clip in paused or []:
                    if bench.device_failures:
                        break
                    bench.question(clip, "paused")
                for index in range(barge_ins if story is not None else 0):
                    if bench.device_failures:
                        break
                    bench.barge_in(story, questions[index % len(questions)])
            finally:
                loop.stop()
                recorder.stop()
        bench.attribute()
        bench.turns = loop.turns_started
        bench.barge_in_samples = [bench.position(t) for t in loop.barge_ins]
        bench.pause_samples = [bench.position(t) for t in loop.holds]
        bench.speaker_pauses, bench.false_pauses = len(loop.holds), loop.false_holds
        bench.replies_ahead = loop.replies_ahead
        bench.replies_ahead_dropped = loop.replies_ahead_dropped
        # Each stream Parley opened (a refresh opens a new one): how often it ended by
        # itself, or went quiet, and was reopened at once.
        bench.stream_stalls = sum(s.stalls for s in streams)
        bench.stream_revivals = sum(s.revivals for s in streams) - bench.stream_stalls
        bench.stream_refreshes = len(streams) - 1
        return bench
    finally:
        audio.stop()


# ---------------------------------------------------------------------------
# Analysis of the recording


def analyse(recording: Path, bench: Bench) -> None:
    """Fill in each item's measured figures (item.extra) from the stereo recording."""
    played = bench.played
    room, rate = read_wav(recording)
    assert rate == RATE and room.ndim == 2
    mic, speaker = room[:, MIC_CHANNEL], room[:, SPEAKER_CHANNEL]
    base = None
    for index, item in enumerate(played):
        start, score = locate(mic, item.clip, item.expected)
        on, end = start + item.clip.onset, start + item.clip.offset
        item.extra.update(match=round(score, 3), onset=on, end=end)
        item.extra["start_late_ms"] = round((start - item.expected) / RATE * 1000, 1)
        # The recording's clock and perf_counter() drift apart by ~0.1 %; the located
        # start of each question (against the first one's) says by how much so far.
        base = start - item.expected if base is None else base
        item.extra["drift"] = start - item.expected - base
        limit = played[index + 1].expected if index + 1 < len(played) else speaker.size
        if item.kind == "paused":
            # Cut off: Parley's voice came before the question's end (it answered
            # the first part), or the question was taken as two turns.
            during = voiced(speaker[on:end], SPEAKER_VOICED_DBFS)
            item.extra["cut_off"] = bool(during.any())
        if item.kind in ("question", "interruption"):
            after = np.flatnonzero(voiced(speaker[end:limit], SPEAKER_VOICED_DBFS))
            if after.size:
                item.extra["voice_to_voice_ms"] = round(after[0] / RATE * 1000, 1)
            during = voiced(speaker[on:end], SPEAKER_VOICED_DBFS)
            item.extra["speaker_busy_during_question"] = bool(during.any())
        if item.kind == "interruption":
            item.extra["barge_in_stop_ms"] = barge_in_stop(speaker, on, end)
            # When the loop saw the interruption: its wall-clock time mapped onto the
            # recording. Only good to a few 10 ms: a diagnostic, not a figure.
            drift = item.extra["drift"]
            seen = [s for s in bench.barge_in_samples if on - RATE // 2 <= s + drift < end]
            if seen:
                item.extra["barge_in_seen_ms_approx"] = round((seen[0] + drift - on) / RATE * 1000)
                item.extra["barge_in_seen_at"] = seen[0]
            paused = [s for s in bench.pause_samples if on - RATE // 2 <= s + drift < end]
            if paused:
                item.extra["pause_seen_ms_approx"] = round((paused[0] + drift - on) / RATE * 1000)
    bench.self_barge_ins_ms = self_barge_ins(bench, speaker)


def self_barge_ins(bench: Bench, speaker: np.ndarray) -> list[float | None]:
    """For each barge-in no interruption accounts for: how long Parley's voice had been
    on the speaker (since its last 300 ms of silence) when the loop stopped it; None if
    it was silent then. Positions come from the wall clock: a few 10 ms off."""
    claimed = {p.extra.get("barge_in_seen_at") for p in bench.played}
    found = []
    for sample in bench.barge_in_samples:
        before = [p for p in bench.played if p.expected <= sample]
        at = int(sample + (before[-1].extra["drift"] if before else 0))
        if sample in claimed or not 0 < at <= speaker.size:
            continue
        level = voiced(speaker[max(0, at - 10 * RATE) : at], SPEAKER_VOICED_DBFS)
        if not level[-int(STOPPED_SILENCE_S * RATE) :].any():
            found.append(None)
            continue
        quiet = np.convolve(~level, np.ones(int(STOPPED_SILENCE_S * RATE), int), mode="valid")
        runs = np.flatnonzero(quiet == int(STOPPED_SILENCE_S * RATE))
        began = runs[-1] + int(STOPPED_SILENCE_S * RATE) if runs.size else 0
        found.append(round((level.size - began) / RATE * 1000))
    return found


def barge_in_stop(speaker: np.ndarray, on: int, end: int) -> float | None:
    """ms from the interruption's onset until Parley's voice is gone; None if Parley was
    already silent then (nothing to stop)."""
    before = voiced(speaker[max(0, on - int(STOPPED_SILENCE_S * RATE)) : on], SPEAKER_VOICED_DBFS)
    during = voiced(speaker[on:end], SPEAKER_VOICED_DBFS)
    if not before.any() and not during.any():
        return None
    tail = int(STOPPED_SILENCE_S * RATE)
    if not during[-tail:].any():
        loud = np.flatnonzero(during)
        return round((loud[-1] + 1 if loud.size else 0) / RATE * 1000, 1)
    # still talking when the question ended: the first 300 ms silence after the onset
    level = voiced(speaker[on : on + 30 * RATE], SPEAKER_VOICED_DBFS)
    runs = np.convolve(~level, np.ones(tail, int), mode="valid")
    silent = np.flatnonzero(runs == tail)
    stop = silent[0] if silent.size else level.size
    return round(stop / RATE * 1000, 1)


# ---------------------------------------------------------------------------
# Report


def spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 0.95), 1),
        "n": len(values),
    }


def raw_wer(settings: Settings, wavs: list[Path]) -> float:
    """faster-whisper called directly on the same WAVs: the WER to be no worse than."""
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(registry.resolve("stt", settings).path),
        device="cpu",
        compute_type="int8",
        cpu_threads=2,
    )
    pairs = []
    for wav in wavs:
        segments, _ = model.transcribe(load_audio(wav), language="en", **DECODE_OPTIONS)
        pairs.append((reference_text(wav), " ".join(s.text.strip() for s in segments)))
    return word_error_rate(pairs)


def report(bench: Bench, wer_raw: float) -> dict:
    played, turns = bench.played, bench.turns
    questions = [p for p in played if p.kind == "question"]
    paused = [p for p in played if p.kind == "paused"]
    cut_offs: dict[str, list[int]] = {}
    for p in paused:
        tally = cut_offs.setdefault(str(pause_of(p.clip.path)), [0, 0])
        tally[0] += bool(p.extra.get("cut_off") or p.extra.get("turns_heard", 0) > 1)
        tally[1] += 1
    interruptions = [p for p in played if p.kind == "interruption"]
    answered = [p for p in questions if p.result is not None]
    clean = [p for p in answered if p.extra["match"] >= MATCH_MIN]
    clean = [p for p in clean if not p.extra.get("speaker_busy_during_question")]
    v2v = [p.extra["voice_to_voice_ms"] for p in clean if "voice_to_voice_ms" in p.extra]
    both = [p for p in clean if "voice_to_voice_ms" in p.extra and "own" in p.extra]
    for p in both:
        p.extra["own_minus_outside_ms"] = round(
            p.extra["own"]["voice_to_voice_ms"] - p.extra["voice_to_voice_ms"], 1
        )
    own_parts = {
        part: spread([p.extra["own"][part] for p in both])
        for part in ("voice_to_voice_ms", "endpoint_ms", "reply_ms", "audio_path_ms")
    }
    per_voice: dict[str, list] = {}
    for p in questions:
        per_voice.setdefault(voice_of(p.clip.path), []).append(
            (reference_text(p.clip.path), p.transcript or "")
        )
    stages = {
        # 0 is a real figure: a reply begun ahead had its stages done before the endpoint.
        stage: spread(
            [p.result.timings[stage] for p in answered if p.result.timings.get(stage) is not None]
        )
        for stage in STAGES
    }
    stages["endpoint_ms"] = spread(
        [
            p.extra["voice_to_voice_ms"] - p.result.timings["first_audio_ms"]
            for p in clean
            if "voice_to_voice_ms" in p.extra and p.result.timings.get("first_audio_ms") is not None
        ]
    )
    stops = [
        p.extra["barge_in_stop_ms"]
        for p in interruptions
        if p.extra.get("barge_in_stop_ms") is not None and p.extra["match"] >= MATCH_MIN
    ]
    heard = sum(p.transcript is not None for p in played)
    return {
        "voice_to_voice_ms": spread(v2v),
        "own": own_parts,
        "cut_offs_by_pause_ms": cut_offs,  # {pause: [cut off, played]}
        "wer_paused": round(
            word_error_rate([(reference_text(p.clip.path), p.transcript or "") for p in paused]),
            4,
        )
        if paused
        else None,
        "own_minus_outside_abs_ms": spread([abs(p.extra["own_minus_outside_ms"]) for p in both]),
        "wer_per_voice": {
            voice: round(word_error_rate(pairs), 4) for voice, pairs in sorted(per_voice.items())
        },
        "stages": stages,
        "endpoint_ms": stages["endpoint_ms"],
        "wer": round(
            word_error_rate([(reference_text(p.clip.path), p.transcript or "") for p in questions]),
            4,
        ),
        "wer_raw": round(wer_raw, 4),
        "wer_barge_in": round(
            word_error_rate(
                [(reference_text(p.clip.path), p.transcript or "") for p in interruptions]
            ),
            4,
        )
        if interruptions
        else None,
        "barge_in_stop_ms": spread(stops),
        "barge_ins_detected": sum(bool(p.extra.get("detected")) for p in interruptions),
        "barge_in_rounds": len(interruptions),
        "self_barge_ins": len(bench.self_barge_ins_ms),
        "self_barge_ins_after_ms": bench.self_barge_ins_ms,
        "speaker_pauses": bench.speaker_pauses,
        "false_pauses": bench.false_pauses,
        "replies_ahead": bench.replies_ahead,
        "replies_ahead_dropped": bench.replies_ahead_dropped,
        "self_triggered_turns": turns - heard,
        "self_heard": bench.self_heard,
        "failures": bench.failures,
        "aborted": bench.device_failures[0] if bench.device_failures else None,
        "turns": turns,
        "questions_played": len(played),
        "questions_missed": len(played) - heard,
        "replies_cut": sum(
            bool(p.result and p.result.cancelled and not p.extra.get("stopped_by_bench"))
            for p in questions
        ),
        "replies_stopped_by_bench": sum(bool(p.extra.get("stopped_by_bench")) for p in played),
        "questions_distorted": sum(p.extra["match"] < MATCH_MIN for p in played),
        "replies_during_question": sum(
            bool(p.extra.get("speaker_busy_during_question")) for p in questions
        ),
        "worst_match": min((p.extra["match"] for p in played), default=None),
        "audio_latency_ms": round(bench.latency_ms, 1),
        "stream_ended_and_reopened": bench.stream_revivals,
        "stream_went_quiet_and_reopened": bench.stream_stalls,
        "stream_refreshed_while_idle": bench.stream_refreshes,
        "targets": TARGETS,
        "questions": [
            {
                "file": p.clip.path.name,
                "kind": p.kind,
                "reference": reference_text(p.clip.path) if p.kind != "story" else STORY,
                "transcript": p.transcript,
                "timings": p.result.timings if p.result else None,
                "cancelled": p.result.cancelled if p.result else None,
                **{k: v for k, v in p.extra.items() if k not in HIDDEN},
            }
            for p in played
        ],
    }


HIDDEN = ("onset", "end", "drift", "barge_in_seen_at")


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("  ok" if ok else "  MISSED")


def print_table(r: dict) -> None:
    v, b, t = r["voice_to_voice_ms"], r["barge_in_stop_ms"], r["targets"]

    def fmt(x):
        return "-" if x is None else f"{x:.0f}"

    def meets(x, limit):
        return None if x is None else x <= limit

    print(
        f"{r['questions_played']} questions played ({r['barge_in_rounds']} barge-in rounds), "
        f"{r['turns']} turns, {r['threads']} threads, "
        f"PortAudio latency {r['audio_latency_ms']:.0f} ms\n"
    )
    print(f"{'figure':<26}{'p50':>8}{'p95':>8}{'n':>5}   target")
    print(
        f"{'voice to voice (ms)':<26}{fmt(v['p50']):>8}{fmt(v['p95']):>8}{v['n']:>5}   "
        f"p50 <= {t['voice_to_voice_p50_ms']}"
        f"{verdict(meets(v['p50'], t['voice_to_voice_p50_ms']))}, "
        f"p95 <= {t['voice_to_voice_p95_ms']}"
        f"{verdict(meets(v['p95'], t['voice_to_voice_p95_ms']))}"
    )
    own, diff = r["own"], r["own_minus_outside_abs_ms"]
    for part, label in (
        ("voice_to_voice_ms", "Parley's own figure"),
        ("endpoint_ms", "  endpoint wait"),
        ("reply_ms", "  reply (stt, llm, tts)"),
        ("audio_path_ms", "  audio path"),
    ):
        s = own[part]
        print(f"{label + ' (ms)':<26}{fmt(s['p50']):>8}{fmt(s['p95']):>8}{s['n']:>5}")
    print(
        f"{'|own - outside| (ms)':<26}{fmt(diff['p50']):>8}{fmt(diff['p95']):>8}{diff['n']:>5}"
        f"   p95 <= {t['own_minus_outside_p95_ms']}"
        f"{verdict(meets(diff['p95'], t['own_minus_outside_p95_ms']))}"
    )
    for stage, label in (
        ("endpoint_ms", "  endpoint + output"),
        ("stt_ms", "  stt after endpoint"),
        ("llm_first_token_ms", "  llm first token"),
        ("first_audio_ms", "  first audio"),
    ):
        s = r["stages"][stage]
        print(f"{label + ' (ms)':<26}{fmt(s['p50']):>8}{fmt(s['p95']):>8}{s['n']:>5}")
    print(
        f"{'barge-in stop (ms)':<26}{fmt(b['p50']):>8}{fmt(b['p95']):>8}{b['n']:>5}   "
        f"p95 <= {t['barge_in_stop_p95_ms']}{verdict(meets(b['p95'], t['barge_in_stop_p95_ms']))}"
    )
    print(
        f"{'self-triggered turns':<26}{r['self_triggered_turns']:>8}{'':>13}   0"
        f"{verdict(r['self_triggered_turns'] == 0)}"
    )
    print(
        f"{'WER parley / raw':<26}{r['wer']:>8.3f}{r['wer_raw']:>8.3f}{'':>5}   no worse than raw"
        f"{verdict(r['wer'] <= r['wer_raw'])}"
    )
    print("\nper turn: outside / own (ms), voice, what it heard")
    for q in r["questions"]:
        if q["kind"] == "question":
            outside, mine = (
                q.get("voice_to_voice_ms"),
                (q.get("own") or {}).get("voice_to_voice_ms"),
            )
            print(f"  {fmt(outside):>6} / {fmt(mine):>6}  {q['file']:<32} {q['transcript']!r}")
    print("WER per voice: " + ", ".join(f"{v} {w:.3f}" for v, w in r["wer_per_voice"].items()))
    if r["cut_offs_by_pause_ms"]:
        tallies = ", ".join(
            f"{pause} ms: {cut}/{n}"
            for pause, (cut, n) in sorted(
                r["cut_offs_by_pause_ms"].items(), key=lambda kv: int(kv[0])
            )
        )
        print(f"cut off mid-sentence, by pause: {tallies} (WER {r['wer_paused']:.3f})")
    if r["questions_distorted"]:
        print(
            f"{r['questions_distorted']} question(s) reached the microphone distorted "
            f"(match < {MATCH_MIN}): left out of the figures"
        )
    for message in r["failures"]:
        print(f"FAILURE: {message}")
    print(
        f"\nmissed questions {r['questions_missed']}, replies cut short {r['replies_cut']}, "
        f"replies begun during a question {r['replies_during_question']}, "
        f"barge-ins on its own voice {r['self_barge_ins']}, "
        f"speaker paused on a sound {r['speaker_pauses']} (not a voice: {r['false_pauses']}), "
        f"replies begun at a pause {r['replies_ahead']} (dropped: {r['replies_ahead_dropped']})"
    )
    print(
        f"audio stream reopened: ended by itself {r['stream_ended_and_reopened']}, went quiet "
        f"{r['stream_went_quiet_and_reopened']}; refreshed while idle "
        f"{r['stream_refreshed_while_idle']}"
    )
    if r["self_barge_ins"]:
        after = ", ".join(
            "silent" if ms is None else f"{ms}" for ms in r["self_barge_ins_after_ms"]
        )
        print(f"  it stopped itself this many ms into its own speech: {after}")
    for text in r["self_heard"][:5]:
        print(f"  heard itself: {text!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="folder of *.wav questions with *.txt")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the corpus")
    parser.add_argument("--barge-ins", type=int, default=4, help="barge-in rounds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--max-reply-s",
        type=float,
        default=MAX_REPLY_S,
        help="press Stop on a reply this long after the question was heard",
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument("--keep-recording", type=Path, help="save the room's stereo WAV here")
    parser.add_argument(
        "--paused",
        type=int,
        default=10,
        help="questions with a 0.4-1.2 s pause in the middle, played after the others",
    )
    parser.add_argument(
        "--voices",
        choices=("many", "one"),
        default="many",
        help="many: each built-in question in two of 8 espeak voices and speeds; "
        "one: all in the voice tiny.en hears best",
    )
    parser.add_argument(
        "--room",
        choices=("plain", "tuned"),
        default="plain",
        help="plain: PulseAudio's defaults, as on a desktop; tuned: the tests' room "
        "(a 10 ms reader on the null sink)",
    )
    parser.add_argument(
        "--leak-db",
        type=float,
        default=ECHO_GAIN_DB,
        help="the speaker's leak into the microphone (dB; -10 a laptop, -20 a quieter one)",
    )
    parser.add_argument(
        "--punctuation-ends-turns",
        action="store_true",
        help="judge pauses by whisper's punctuation, as before the chat model judged them",
    )
    args = parser.parse_args()
    for tool in ("pulseaudio", "pactl", "pacat", "paplay"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not found (Debian: pulseaudio pulseaudio-utils)")

    settings = Settings(  # greedy: same replies
        temperature=0.0, threads=args.threads, turn_end_by_model=not args.punctuation_ends_turns
    )
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        wavs = load_corpus(args.corpus, scratch_dir, args.voices)
        story = None
        if args.barge_ins > 0:
            if shutil.which("espeak-ng"):
                story = Clip.load(speak(STORY, scratch_dir / "story.wav"))
            else:
                print("bench: no espeak-ng, so no barge-in rounds", file=sys.stderr)
        questions = [Clip.load(wav) for wav in wavs]
        recording = scratch_dir / "room.wav"
        bench = run_live(
            settings,
            questions,
            args.rounds,
            args.barge_ins,
            story,
            recording,
            args.max_reply_s,
            args.room,
            [Clip.load(w) for w in paused_corpus(scratch_dir, args.paused)] if args.paused else [],
            args.leak_db,
        )
        if args.keep_recording:
            shutil.copyfile(recording, args.keep_recording)
        analyse(recording, bench)
        result = report(bench, raw_wer(settings, wavs))
        result.update(
            threads=settings.cpu_threads,
            max_reply_s=args.max_reply_s,
            room=args.room,
            leak_db=args.leak_db,
        )

    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    if result["aborted"]:
        print(
            f"bench: stopped early, the audio stream failed: {result['aborted']}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
