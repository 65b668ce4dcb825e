"""Intent answers on a fixed clock, with a real timers file and the real matcher."""

from datetime import datetime

import pytest

from desktop.engine.skills.matcher import IntentMatcher
from desktop.engine.skills.skills import Skills, VoicePace, ring_words
from desktop.engine.skills.timers import TimerStore


@pytest.fixture(scope="module")
def matcher():
    return IntentMatcher()


@pytest.fixture
def skills(tmp_path, matcher):
    return Skills(
        TimerStore(tmp_path / "timers.db"),
        VoicePace(),
        matcher=matcher,
        now=lambda: datetime(2026, 12, 6, 9, 20, 12),
    )


def test_time_and_date(skills):
    assert skills.answer("What time is it?").text == "It's twenty past nine."
    assert skills.answer("What's the date today?").text.startswith("It's Sunday, the sixth")


def test_timers_start_report_and_cancel(skills):
    assert skills.answer("Set a timer for 5 minutes.").text == "Timer set for 5 minutes."
    assert skills.answer("Set a pasta timer for 8 minutes").text == "Pasta timer set for 8 minutes."
    assert len(skills.store.pending()) == 2
    status = skills.answer("How long is left on my timer?").text
    assert "left on the 5 minute timer" in status and "left on the pasta timer" in status
    which = skills.answer("Cancel my timer.").text
    assert which.startswith("You have 2 timers") and len(skills.store.pending()) == 2
    assert skills.answer("Cancel the pasta timer").text == "Cancelled the pasta timer."
    assert skills.answer("cancel the 5 minute timer").text == "Cancelled the 5 minute timer."
    assert skills.store.pending() == []
    assert skills.answer("Cancel my timer.").text == "There is no such timer."


def test_an_impossible_timer_is_refused(skills):
    assert "24 hours" in skills.answer("Set a timer for 90 hours").text
    assert skills.store.pending() == []


def test_a_reminder_is_set_at_the_next_such_moment(skills):
    reply = skills.answer("Remind me at six to take my pills.")
    assert reply.text == "I'll remind you at six o'clock in the evening to take your pills."
    [reminder] = skills.store.pending()
    assert datetime.fromtimestamp(reminder.due) == datetime(2026, 12, 6, 18, 0)
    assert ring_words(reminder, 0.0) == "Reminder: take your pills."
    assert skills.answer("Cancel my reminders").text == "Cancelled 1 reminder."


def test_a_reminder_without_a_clock_time_goes_to_the_chat_model(skills):
    assert skills.answer("Remind me to call Anna at some point.") is None
    assert skills.store.pending() == []


def test_say_that_again_repeats_the_last_reply(skills):
    assert skills.answer("Say that again.", last_reply="Paris.").text == "Paris."
    assert skills.answer("Say that again.").text == "I haven't said anything yet."


def test_the_voice_pace_changes_within_limits(skills):
    slower = skills.answer("Speak slower.")
    assert slower.settings == {"voice_rate": pytest.approx(1 / 1.2, abs=0.001)}
    louder = skills.answer("Louder.")
    assert louder.settings == {"voice_gain_db": 3.0}
    for _ in range(10):
        skills.answer("Slow down.")
    assert skills.pace.rate == 0.5
    assert skills.answer("Slow down.").text == "This is already my slowest."


def test_stop_says_nothing(skills):
    reply = skills.answer("Stop.")
    assert reply.text == "" and reply.stop


def test_near_misses_get_no_answer(skills):
    for text in ("Set the table.", "What time is the meeting?", "Stop the war."):
        assert skills.answer(text) is None


def test_a_timer_that_rang_late_says_so(skills):
    timer = skills.store.add("timer", 60.0)
    assert ring_words(timer, 0.05) == "Your 1 minute timer is done."
    assert "3 minutes ago" in ring_words(timer, 180.0)
