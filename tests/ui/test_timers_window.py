"""Intents in the window over the real engine process and models: a timer set by a
typed request shows in the Timers dock with the time left, rings in the chat, and can
be cancelled with its button; "speak slower" is kept in the settings."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton

from desktop.config import load_settings
from desktop.engine.events import Alarm
from desktop.engine.skills.timers import TimerStore
from tests.ui.test_main_window import TURN_MS, Seen, type_question
from tests.ui.test_main_window import window as window  # noqa: F401 - the fixture


@pytest.fixture(autouse=True)
def no_timers_left():
    """The test session shares one PARLEY_HOME: each test starts and ends without timers."""
    store = TimerStore()
    for timer in store.pending():
        store.cancel(timer.id)
    yield
    for timer in store.pending():
        store.cancel(timer.id)


def ask(qtbot, window, text):
    with qtbot.waitSignal(window.turn_finished, timeout=TURN_MS) as done:
        type_question(qtbot, window, text)
    return done.args[0]


def rows(window):
    return [
        label.text()
        for label in window.timers.findChildren(QLabel)
        if label is not window.timers.empty and label.text()
    ]


def test_a_timer_shows_with_time_left_and_rings_in_the_chat(qtbot, window):
    seen = Seen(window)
    result = ask(qtbot, window, "Set a timer for 3 seconds.")
    assert result.intent == "HassStartTimer"
    qtbot.waitUntil(lambda: window.timers_dock.isVisible(), timeout=5_000)
    assert rows(window) and rows(window)[0].startswith("Timer  0:0")
    qtbot.waitUntil(lambda: bool(seen.of(Alarm)), timeout=30_000)
    assert window.chat.bubbles[-1].text == "⏰ Your 3 second timer is done."
    qtbot.waitUntil(lambda: not window.timers_dock.isVisible(), timeout=5_000)


def test_the_cancel_button_cancels_the_timer(qtbot, window):
    ask(qtbot, window, "Set a pasta timer for 10 minutes.")
    qtbot.waitUntil(lambda: window.timers_dock.isVisible(), timeout=5_000)
    [button] = [b for b in window.timers.findChildren(QPushButton) if b.isVisible()]
    assert button.accessibleName() == "Cancel Pasta timer"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert TimerStore().pending() == []
    qtbot.waitUntil(lambda: not window.timers_dock.isVisible(), timeout=5_000)


def test_speak_slower_is_kept_in_the_settings(qtbot, window):
    result = ask(qtbot, window, "Speak slower.")
    assert result.intent == "ParleyVoiceSlower"
    qtbot.waitUntil(lambda: window.settings.voice_rate < 1.0, timeout=5_000)
    assert load_settings().voice_rate == window.settings.voice_rate
