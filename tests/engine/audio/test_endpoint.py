"""Endpointing on silero VAD, fed real spoken audio (espeak) a block at a time."""

import numpy as np
import pytest

from desktop.engine.audio.endpoint import (
    FRAME_MS,
    Ending,
    Endpointer,
    EndpointSettings,
    SilenceStarted,
    SpeechResumed,
    SpeechStarted,
    UtteranceEnded,
)
from desktop.engine.audio.samples import STT_RATE, load_audio


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * STT_RATE), np.float32)


def feed(endpointer: Endpointer, audio: np.ndarray, on_event=None) -> list[tuple[float, object]]:
    """Push 10 ms blocks, as the audio worker does; (seconds, event) in order."""
    events = []
    for start in range(0, audio.size, 160):
        for event in endpointer.push(audio[start : start + 160]):
            events.append((start / STT_RATE, event))
            if on_event:
                on_event(event)
    return events


@pytest.fixture(scope="module")
def question(say):
    return load_audio(say("What is the capital of France?", "capital"))


def kinds(events):
    return [type(e).__name__ for _, e in events]


def test_an_utterance_starts_pauses_and_ends_with_its_pre_roll(question):
    endpointer = Endpointer()
    events = feed(endpointer, np.concatenate([silence(1), question, silence(1.5)]))
    assert kinds(events)[0] == "SpeechStarted"
    assert kinds(events)[-1] == "UtteranceEnded"
    assert "SilenceStarted" in kinds(events)
    ended = events[-1][1]
    # Pre-roll: the kept audio starts before the VAD was sure (its first syllable).
    assert ended.audio.size > question[np.abs(question) > 0.01].size * 0.5
    assert ended.voiced_ms >= EndpointSettings().min_speech_ms


def test_speaking_again_after_a_pause_is_reported_and_the_utterance_goes_on(question):
    endpointer = Endpointer(
        EndpointSettings(short_silence_ms=1500, long_silence_ms=1500, incomplete_silence_ms=1500)
    )
    mic = np.concatenate([silence(1), question, silence(0.8), question, silence(2)])
    events = feed(endpointer, mic)
    names = kinds(events)
    assert names.count("SpeechStarted") == 1 and names.count("UtteranceEnded") == 1
    resumed = [t for t, e in events if isinstance(e, SpeechResumed)]
    second_at = 1 + question.size / STT_RATE + 0.8
    assert any(abs(t - second_at) < 0.5 for t in resumed), (resumed, second_at)
    # Every resumption follows a pause that was reported first.
    for i, name in enumerate(names):
        if name == "SpeechResumed":
            assert "SilenceStarted" in names[:i]


def test_the_silence_window_follows_what_the_words_say(question):
    """Short after a finished sentence, longest mid-sentence or while the words are
    being judged, the usual wait when they could go either way."""
    settings = EndpointSettings(
        short_silence_ms=320, long_silence_ms=800, incomplete_silence_ms=1400
    )

    def end_after_pause(ending: Ending) -> float:
        endpointer = Endpointer(settings)

        def on_event(event):
            if isinstance(event, SilenceStarted | SpeechStarted):
                endpointer.ending = ending  # as the early transcript sets it

        events = feed(endpointer, np.concatenate([silence(1), question, silence(2)]), on_event)
        pause = max(t for t, e in events if isinstance(e, SilenceStarted))
        return next(t for t, e in events if isinstance(e, UtteranceEnded)) - pause

    frames = 2 * FRAME_MS / 1000
    assert end_after_pause(Ending.COMPLETE) == pytest.approx(0.32, abs=frames)
    assert end_after_pause(Ending.UNKNOWN) == pytest.approx(0.8, abs=frames)
    assert end_after_pause(Ending.INCOMPLETE) == pytest.approx(1.4, abs=frames)
    # Words still being judged: wait for the verdict, at most the longest window.
    assert end_after_pause(Ending.PENDING) == pytest.approx(1.4, abs=frames)


def test_speaking_again_forgets_how_the_words_were_judged(question):
    endpointer = Endpointer()
    feed(endpointer, np.concatenate([silence(1), question[: question.size // 2]]))
    endpointer.ending = Ending.COMPLETE
    feed(endpointer, question[question.size // 2 :])
    assert endpointer.in_speech and endpointer.ending is Ending.UNKNOWN


def test_the_utterance_says_where_the_voice_stopped(question):
    """voice_end counts samples pushed, so the voice loop can tell when that was: it
    falls on the question's last loud sample (within 10 ms), not on the VAD's frame
    or the end of the silence window."""
    endpointer = Endpointer()
    lead = silence(1.3)
    feed(endpointer, silence(0.5))
    endpointer.reset()  # what was pending is dropped, but still counted
    events = feed(endpointer, np.concatenate([lead, question, silence(1.5)]))
    ended = events[-1][1]
    assert isinstance(ended, UtteranceEnded)
    last_loud = np.flatnonzero(np.abs(question) > 0.01)[-1]
    truth = int(0.5 * STT_RATE) + lead.size + last_loud
    assert abs(ended.voice_end - truth) <= STT_RATE // 100, (ended.voice_end, truth)
    assert endpointer.samples_pushed == int(0.5 * STT_RATE) + lead.size + question.size + int(
        1.5 * STT_RATE
    )
