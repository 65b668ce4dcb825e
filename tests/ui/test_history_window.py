"""The conversation list in the real window, over the real engine and starter model.

Each test has its own PARLEY_HOME (the engine child inherits it). The only
stand-ins are Qt's modal question and text dialogs, which have no one to click
them offscreen; said where used.
"""

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from desktop.config import Settings
from tests.ui.test_main_window import TURN_MS, open_window, type_question


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_HOME", str(tmp_path))
    win = open_window(qtbot, Settings(temperature=0.0, max_tokens=24))
    yield win
    win.close()


def ask(qtbot, window, text):
    with qtbot.waitSignal(window.turn_finished, timeout=TURN_MS) as done:
        type_question(qtbot, window, text)
    return done.args[0]


def titles(window):
    items = window.history.list
    return [items.item(i).text().split("\n")[0] for i in range(items.count())]


def test_turns_are_saved_listed_and_an_old_conversation_continues(qtbot, window):
    assert window.history.empty.text().startswith("No saved conversations yet")
    first = ask(qtbot, window, "What is the capital of France?")
    ask(qtbot, window, "And of Italy?")
    assert titles(window) == ["What is the capital of France?"]
    old_id = window.recorder.conversation_id

    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.chat.bubbles == [] and window.recorder.conversation_id is None
    ask(qtbot, window, "Name a colour.")
    assert titles(window) == ["Name a colour.", "What is the capital of France?"]

    # Continue the first conversation from the list with the keyboard alone.
    window.history.list.setFocus()
    window.history.list.setCurrentRow(1)
    qtbot.keyClick(window.history.list, Qt.Key.Key_Return)
    assert window.recorder.conversation_id == old_id
    shown = [bubble.text.strip() for bubble in window.chat.bubbles]
    assert shown[0] == "What is the capital of France?" and shown[1] == first.reply
    assert shown[2] == "And of Italy?" and len(shown) == 4
    assert window.bridge.host.history[0]["content"] == "What is the capital of France?"

    ask(qtbot, window, "And of Spain?")
    saved = window.recorder.store.get(old_id)
    assert [t.question for t in saved.turns] == [
        "What is the capital of France?",
        "And of Italy?",
        "And of Spain?",
    ]
    assert titles(window)[0] == "What is the capital of France?", "newest activity first"


def test_search_rename_export_delete(qtbot, window, tmp_path, monkeypatch):
    ask(qtbot, window, "Will it rain tomorrow?")
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    ask(qtbot, window, "What is two plus two?")
    panel = window.history

    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert panel.search.hasFocus()
    qtbot.keyClicks(panel.search, "RAIN")
    qtbot.waitUntil(lambda: titles(window) == ["Will it rain tomorrow?"], timeout=2000)
    panel.search.clear()
    qtbot.waitUntil(lambda: len(titles(window)) == 2, timeout=2000)

    panel.list.setCurrentRow(1)  # the rain conversation
    # Stand-in: the rename dialog answers as a user typing a title would.
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Weather", True))
    panel.rename_button.click()
    assert "Weather" in titles(window)

    out = tmp_path / "weather.md"
    panel.list.setCurrentRow(titles(window).index("Weather"))
    assert panel.export_to(panel.selected_id(), out)
    text = out.read_text()
    assert text.startswith("# Weather") and "Will it rain tomorrow?" in text
    assert panel.export_to(panel.selected_id(), tmp_path / "weather.json")
    assert json.loads((tmp_path / "weather.json").read_text())["title"] == "Weather"

    # Stand-in: the confirmation answers No, then Yes.
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    panel.delete_button.click()
    assert "Weather" in titles(window)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    panel.list.setFocus()
    qtbot.keyClick(panel.list, Qt.Key.Key_Delete)
    assert titles(window) == ["What is two plus two?"]


def test_a_failed_export_shows_the_banner(qtbot, window, tmp_path):
    ask(qtbot, window, "Hello there.")
    panel = window.history
    panel.list.setCurrentRow(0)
    assert not panel.export_to(panel.selected_id(), tmp_path / "missing" / "x.md")
    assert not window.banner.isHidden()
    assert window.banner.message.text().startswith("Could not write")


def test_turns_are_saved_even_when_the_engine_dies(qtbot, window):
    import os
    import signal

    ask(qtbot, window, "What is the capital of France?")
    os.kill(window.bridge.host.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: window.engine_ready is False, timeout=10_000)
    with qtbot.waitSignal(window.ready, timeout=90_000):
        pass
    ask(qtbot, window, "And of Italy?")
    saved = window.recorder.store.get(window.recorder.conversation_id)
    assert [t.question for t in saved.turns] == ["What is the capital of France?", "And of Italy?"]


def test_help_menu_lists_network_activity(qtbot, window, monkeypatch):
    from desktop.ui.network_dialog import EMPTY_TEXT, NetworkDialog

    shown = []
    # Stand-in: exec() would block offscreen with no one to close it; record the dialog.
    monkeypatch.setattr(NetworkDialog, "exec", lambda self: shown.append(self) or 0)
    (item,) = [
        a
        for m in window.menuBar().actions()
        for a in m.menu().actions()
        if a.text() == "&Network activity…"
    ]
    item.trigger()
    assert len(shown) == 1
    labels = [w.text() for w in shown[0].findChildren(type(window.status_text))]
    assert any(EMPTY_TEXT in text for text in labels), "nothing went out in this test"
