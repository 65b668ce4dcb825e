"""Timers ringing in the live voice loop (a FileAudio room, the real models): set by
voice, rung with the chime and a spoken message that whisper hears back; a timer
that comes due while Parley talks stops the reply."""

import time

import numpy as np
import pytest

from desktop.engine.audio.samples import STT_RATE, load_audio
from desktop.engine.events import Alarm, TurnResult
from desktop.engine.skills.skills import VoicePace
from tests.conftest import words
from tests.engine.conversation.test_voice_loop import Session, silence


@pytest.fixture
def skilled(fresh):
    yield fresh
    fresh.skills.pace = VoicePace()
    fresh.tts.set_pace(1.0, 0.0)
    for timer in fresh.skills.store.pending():
        fresh.skills.store.cancel(timer.id)


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_a_three_second_timer_set_by_voice_rings_with_speech_you_can_hear(skilled, say):
    # tiny.en hears this fixture voice's "Set a timer" as "Share to timer": "Start" it is.
    question = load_audio(say("Start a timer for three seconds.", "timer-3s"))
    mic = np.concatenate([silence(1), question, silence(12)])
    session = Session(skilled, mic, echo_cancellation=False)
    session.loop.start()
    try:
        assert wait_for(lambda: session.of(Alarm), 30), "the timer never rang"
        assert wait_for(lambda: not session.room.playing and not session.loop.speaking, 20)
    finally:
        session.room.finished.set()
        session.loop.stop()
    [result] = session.of(TurnResult)
    assert result.intent == "HassStartTimer", result.transcript
    [alarm] = session.of(Alarm)
    assert alarm.text == "Your 3 second timer is done."
    assert alarm.late_ms > -20, "rang before its time"
    played = session.room.speaker_recording()
    message = played[-int(5 * STT_RATE) :]
    heard = set(words(skilled.stt.transcribe_raw(message[np.abs(message) > 0])))
    assert "done" in heard and heard & {"second", "seconds", "3", "three"}, heard


def test_a_timer_due_while_parley_talks_stops_the_reply_and_rings(skilled):
    session = Session(skilled, silence(30), echo_cancellation=False)
    session.loop.start()
    try:
        session.loop.ask("Tell me a long story about the sea, in ten sentences.")
        assert wait_for(lambda: session.room.playing, 60), "Parley never spoke"
        skilled.skills.store.add("timer", 0.3, name="tea")
        for listener in skilled.skills.timer_listeners:
            listener()
        assert wait_for(lambda: session.of(Alarm), 15), "the timer never rang"
        assert wait_for(lambda: not session.room.playing, 20)
    finally:
        session.room.finished.set()
        session.loop.stop()
    [alarm] = session.of(Alarm)
    assert alarm.text == "Your tea timer is done."
    [result] = session.of(TurnResult)
    assert result.cancelled, "the reply went on over the timer"


def test_a_timer_begun_ahead_is_not_set_if_the_user_goes_on_speaking(skilled, say):
    """The reply to "Start a timer for ten minutes" is begun at the pause; the user goes
    on, so it is dropped, and its act (setting the timer) never runs."""
    from desktop.engine.audio.endpoint import EndpointSettings

    first = load_audio(say("Start a timer for ten minutes.", "timer-10min"))
    first = first[: np.flatnonzero(np.abs(first) > 0.01)[-1] + 1]  # espeak trails silence
    rest = load_audio(say("And then tell me a joke.", "then-a-joke"))
    mic = np.concatenate([silence(1), first, silence(0.7), rest, silence(6)])
    slow_endpoint = EndpointSettings(
        short_silence_ms=1000, long_silence_ms=1000, incomplete_silence_ms=1000
    )
    session = Session(skilled, mic, echo_cancellation=False, endpoint=slow_endpoint)
    session.run(turns=1)
    assert session.loop.replies_ahead_dropped >= 1, "no reply was begun at the pause"
    assert skilled.skills.store.pending() == []
    assert [r.intent for r in session.of(TurnResult)] == [""]
