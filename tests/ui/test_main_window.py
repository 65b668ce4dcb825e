"""The window over the real engine process and the real starter models.

Offscreen Qt, a real child process for the engine, real models. The only
stand-in is the OS file dialog (there is no one to click it), said where used.
"""

import os
import signal

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from desktop.config import Settings, load_settings, save_settings
from desktop.engine.events import Token
from desktop.host.messages import EngineRestarted, LoadFailed, Ready
from desktop.ui.main_window import MainWindow

READY_MS = 90_000
TURN_MS = 60_000


class Seen:
    """Every engine event the window received, in order."""

    def __init__(self, window):
        self.events = []
        window.bridge.event.connect(self.events.append)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def open_window(qtbot, settings: Settings, wait_ready: bool = True) -> MainWindow:
    save_settings(settings)
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    if wait_ready:
        with qtbot.waitSignal(window.ready, timeout=READY_MS):
            window.start_engine()
    return window


@pytest.fixture
def window(qtbot, parley_home):
    win = open_window(qtbot, Settings(temperature=0.0))
    yield win
    win.close()


def type_question(qtbot, window, text: str) -> None:
    window.input.setFocus()
    qtbot.keyClicks(window.input, text)
    qtbot.keyClick(window.input, Qt.Key.Key_Return)


def test_typed_turn_streams_the_reply_into_the_conversation(qtbot, window):
    seen = Seen(window)
    grew = []
    window.bridge.event.connect(
        lambda e: (
            grew.append(window.chat.reply.text if window.chat.reply else "")
            if isinstance(e, Token)
            else None
        )
    )
    with qtbot.waitSignal(window.turn_finished, timeout=TURN_MS) as done:
        type_question(qtbot, window, "What is the capital of France?")
    result = done.args[0]
    assert "Paris" in result.reply
    assert len(seen.of(Token)) > 3
    assert len(set(grew)) > 3, "the reply should appear piece by piece, not at once"
    user, reply = window.chat.bubbles
    assert user.text == "What is the capital of France?"
    assert reply.text.strip() == result.reply
    assert "first word" in reply.footer.text() and "ms" in reply.footer.text()
    assert window.input.text() == ""


def test_stop_mid_reply_keeps_the_partial_reply(qtbot, parley_home):
    window = open_window(qtbot, Settings(temperature=0.0, max_tokens=1500))
    try:
        tokens = []
        window.bridge.event.connect(lambda e: tokens.append(e) if isinstance(e, Token) else None)
        type_question(qtbot, window, "Tell me a very long story about a dragon and a knight.")
        qtbot.waitUntil(lambda: len(tokens) >= 5, timeout=TURN_MS)
        with qtbot.waitSignal(window.turn_finished, timeout=10_000) as done:
            qtbot.keyClick(window, Qt.Key.Key_Escape)  # the Stop shortcut
        result = done.args[0]
        assert result.cancelled
        reply = window.chat.bubbles[-1]
        assert reply.text.strip() and len(tokens) < 1500
        assert reply.text.strip() == result.reply
        assert "stopped" in reply.footer.text()
    finally:
        window.close()


def test_a_killed_engine_is_restarted_and_the_conversation_goes_on(qtbot, window):
    with qtbot.waitSignal(window.turn_finished, timeout=TURN_MS):
        type_question(qtbot, window, "What is the capital of France?")
    seen = Seen(window)
    old_pid = window.bridge.host.pid
    with qtbot.waitSignal(window.ready, timeout=READY_MS):
        os.kill(old_pid, signal.SIGKILL)
    assert window.bridge.host.pid != old_pid
    restarted = seen.of(EngineRestarted)
    assert restarted and "SIGKILL" in restarted[0].reason
    assert window.banner.isVisible()
    assert "Restarted the engine" in window.banner.message.text()
    assert [b.who for b in window.chat.bubbles] == ["user", "parley"]
    with qtbot.waitSignal(window.turn_finished, timeout=TURN_MS) as done:
        type_question(qtbot, window, "And what is the capital of Germany?")
    assert done.args[0].reply
    history = window.bridge.host.history
    assert [m["content"] for m in history[::2]] == [
        "What is the capital of France?",
        "And what is the capital of Germany?",
    ]
    qtbot.mouseClick(window.banner.close_button, Qt.MouseButton.LeftButton)
    assert not window.banner.isVisible()


def test_settings_survive_a_restart(qtbot, window):
    def change_in_dialog():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QDialog)
        dialog.findChild(object, "temperature").setValue(1.3)
        dialog.accept()

    QTimer.singleShot(300, change_in_dialog)
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    assert window.settings.temperature == pytest.approx(1.3)
    window.activateWindow()  # offscreen, focus does not come back from a dialog by itself
    qtbot.waitUntil(window.isActiveWindow)
    window.caption_action.trigger()  # caption mode on
    qtbot.keyClick(window, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    window.voice_bar.hands_free.setChecked(True)
    window.close()

    again = MainWindow(load_settings())
    qtbot.addWidget(again)
    assert again.settings.temperature == pytest.approx(1.3)
    assert again.settings.caption_mode and again.pages.currentWidget() is again.captions
    assert again.settings.caption_size == Settings().caption_size + 4
    assert again.captions.history.font().pointSize() == again.settings.caption_size
    assert again.voice_bar.hands_free.isChecked()
    again.close()


def test_caption_mode_shows_both_sides_in_large_text(qtbot, window):
    window.caption_action.trigger()
    assert window.pages.currentWidget() is window.captions
    with qtbot.waitSignal(window.turn_finished, timeout=TURN_MS) as done:
        type_question(qtbot, window, "What is the capital of France?")
    html = window.captions.history.text()
    assert "You:" in html and "What is the capital of France?" in html
    assert "Parley:" in html and done.args[0].reply.split()[0] in html
    colors = window.captions.colors
    assert {colors["background"], colors["parley"]} == {"#000000", "#ffffff"}
    size = window.captions.history.font().pointSize()
    qtbot.keyClick(window, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert window.captions.history.font().pointSize() == size - 4


def test_keyboard_alone_reaches_every_control(qtbot, window):
    assert QApplication.focusWidget() is window.input
    order = []
    widget = window.input
    for _ in range(6):
        order.append(widget.objectName())
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
        widget = QApplication.focusWidget()
    # Stop is disabled while nothing plays, and the mic with no microphone here.
    assert order[:2] == ["question", "send"]
    for control in (
        window.input,
        window.send_button,
        window.voice_bar.mic,
        window.voice_bar.hands_free,
        window.voice_bar.stop_button,
    ):
        assert control.accessibleName() or control.text(), control.objectName()
    with qtbot.waitSignal(window.turn_finished, timeout=TURN_MS) as done:
        type_question(qtbot, window, "Say hello.")
    assert done.args[0].reply


def test_no_model_shows_what_to_do_and_a_chosen_file_starts_the_engine(
    qtbot, parley_home, starter, monkeypatch
):
    window = open_window(
        qtbot, Settings(llm_model=str(parley_home / "gone.gguf")), wait_ready=False
    )
    try:
        window.start_engine()
        assert window.pages.currentWidget() is window.first_run
        assert "No model file" in window.first_run.reason.text()
        assert window.bridge.host.pid is None  # nothing to start
        # Stand-in for the OS file dialog, which needs a person to click it.
        monkeypatch.setattr(
            "desktop.ui.main_window.QFileDialog.getOpenFileName",
            lambda *a, **k: (str(starter["llm"]), "GGUF models (*.gguf)"),
        )
        with qtbot.waitSignal(window.ready, timeout=READY_MS):
            qtbot.mouseClick(window.first_run.add_button, Qt.MouseButton.LeftButton)
        assert window.pages.currentWidget() is window.chat
        assert load_settings().llm_model == str(starter["llm"])
    finally:
        window.close()


def test_a_base_model_is_refused_with_a_banner(qtbot, parley_home, gemma_base):
    window = open_window(qtbot, Settings(llm_model=str(gemma_base)), wait_ready=False)
    seen = Seen(window)
    try:
        window.start_engine()
        qtbot.waitUntil(lambda: bool(seen.of(LoadFailed)), timeout=READY_MS)
        assert window.banner.isVisible()
        assert "no chat template" in window.banner.message.text()
        assert window.pages.currentWidget() is window.first_run
        assert not seen.of(Ready)
    finally:
        window.close()


def drop_file(window, path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)


def test_dropping_model_files_imports_or_explains(qtbot, window, tmp_path, starter, parley_home):
    import shutil

    broken = tmp_path / "half.gguf"
    broken.write_bytes(starter["llm"].read_bytes()[:50_000])
    drop_file(window, broken)
    qtbot.waitUntil(window.banner.isVisible, timeout=30_000)
    assert "half.gguf is truncated" in window.banner.message.text()
    good = tmp_path / "dropped.gguf"
    shutil.copyfile(starter["llm"], good)
    drop_file(window, good)
    qtbot.waitUntil(lambda: "Imported" in window.statusBar().currentMessage(), timeout=60_000)
    assert (parley_home / "data" / "models" / "dropped.gguf").exists()
    (parley_home / "data" / "models" / "dropped.gguf").unlink()
