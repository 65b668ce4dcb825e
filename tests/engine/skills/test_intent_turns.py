"""Intents through whole turns with the real starter models: typed and spoken, the
answer spoken by the real voice and transcribed back, and the chat model not used."""

from datetime import datetime

import numpy as np
import pytest

from desktop.engine.audio.samples import load_audio
from desktop.engine.events import SettingsChanged, Speech, TurnResult
from desktop.engine.skills.skills import VoicePace
from tests.conftest import to_16k, words


@pytest.fixture
def skilled(fresh):
    """The shared assistant, its voice and timers put back as they were afterwards."""
    assert fresh.skills is not None, "the starter settings load the local intents"
    yield fresh
    fresh.skills.pace = VoicePace()
    fresh.tts.set_pace(1.0, 0.0)
    for timer in fresh.skills.store.pending():
        fresh.skills.store.cancel(timer.id)


def turn(assistant, **kwargs):
    events = []
    result = assistant.run_turn(on_event=events.append, speak=True, **kwargs)
    speech = [e for e in events if isinstance(e, Speech)]
    return result, events, speech


def heard(assistant, speech):
    audio = np.concatenate([e.audio for e in speech])
    return assistant.stt.transcribe_raw(to_16k(audio, speech[0].sample_rate))


def test_what_time_is_it_is_answered_by_the_clock_and_spoken(skilled, monkeypatch):
    # A fixed clock: the phrase (and so what whisper must hear) is the same every run.
    monkeypatch.setattr(skilled.skills, "now", lambda: datetime(2026, 12, 6, 9, 20))
    result, _, speech = turn(skilled, text="What time is it?")
    assert result.intent == "HassGetCurrentTime"
    assert result.reply == "It's twenty past nine."
    assert result.timings["llm_first_token_ms"] is None  # the chat model was not asked
    assert result.timings["intent_ms"] is not None
    assert result.models["intent"] == "HassGetCurrentTime" and result.models["llm"] is None
    said = set(words(heard(skilled, speech)))
    assert said & {"past", "pass"} and said & {"nine", "9"}, said  # tiny.en: "past" or "pass"


def test_a_spoken_timer_request_sets_a_timer(skilled, say):
    audio = load_audio(say("Set a timer for three minutes.", "timer-3min"))
    result, _, speech = turn(skilled, audio=audio)
    assert result.intent == "HassStartTimer", result.transcript
    assert result.reply == "Timer set for 3 minutes."
    [timer] = skilled.skills.store.pending()
    assert timer.seconds == 180
    said = set(words(heard(skilled, speech)))
    assert {"three", "minutes"} <= said, said  # tiny.en often hears "timer" as "time"


def test_speak_slower_makes_the_same_sentence_longer_and_is_kept(skilled):
    sentence = "The capital of France is Paris."

    def length():  # piper's phoneme lengths vary by a few percent from run to run
        return np.mean([skilled.tts.synthesize(sentence).size for _ in range(4)])

    before = length()
    result, events, _ = turn(skilled, text="Speak slower, please.")
    assert result.intent == "ParleyVoiceSlower"
    [changed] = [e for e in events if isinstance(e, SettingsChanged)]
    assert changed.values["voice_rate"] < 1.0
    after = length()
    assert after > 1.1 * before, (before, after)  # 1/1.2 of the pace: 1.2 times as long


def test_louder_raises_the_voices_loudness(skilled):
    sentence = "The capital of France is Paris."

    def rms(audio):
        return float(np.sqrt(np.mean((audio.astype(np.float64) / 32768.0) ** 2)))

    def loudness():  # piper's output varies by about 10% from one run to the next
        return np.mean([rms(skilled.tts.synthesize(sentence)) for _ in range(4)])

    before = loudness()
    result, _, _ = turn(skilled, text="Louder.")
    assert result.intent == "ParleyVoiceLouder" and skilled.tts.gain_db == 3.0
    assert loudness() > 1.2 * before  # +3 dB is 1.41 times


def test_say_that_again_repeats_the_chat_models_last_reply(skilled):
    first, _, _ = turn(skilled, text="What is the capital of France?")
    assert first.intent == "" and first.reply
    again, _, speech = turn(skilled, text="Say that again.")
    assert again.intent == "ParleyRepeat" and again.reply == first.reply
    assert " ".join(e.text for e in speech).split() == first.reply.split()


def test_stop_says_nothing_and_a_near_miss_goes_to_the_chat_model(skilled):
    stop, _, speech = turn(skilled, text="Stop.")
    assert stop.intent == "ParleyStop" and stop.reply == "" and speech == []
    table, events, _ = turn(skilled, text="Set the table.")
    assert table.intent == "" and table.timings["llm_first_token_ms"] is not None
    assert skilled.skills.store.pending() == []
    assert isinstance(events[-1], TurnResult)
